//! Micro-benchmarks: partial matching and CEL evaluation over 1,000 Deployment-shaped objects
//! (`cargo bench -p harness --bench matching`).

use criterion::{criterion_group, criterion_main, Criterion};
use harness::checks::{subset, Expression};
use serde_json::{json, Value};

fn objects() -> Vec<Value> {
    (0..1000)
        .map(|i| {
            json!({
                "apiVersion": "apps/v1", "kind": "Deployment",
                "metadata": {"name": format!("app-{i}"), "namespace": "dev", "labels": {"app": format!("app-{i}"), "tier": if i % 2 == 0 { "web" } else { "api" }}},
                "spec": {"replicas": 1 + i % 3, "template": {"spec": {"containers": [
                    {"name": "main", "image": format!("registry.test/app:{i}"), "ports": [{"containerPort": 8080, "protocol": "TCP"}]},
                    {"name": "sidecar", "image": "registry.test/proxy:1.0"}
                ]}}},
                "status": {"observedGeneration": 1, "conditions": [
                    {"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable"},
                    {"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable"}
                ]}
            })
        })
        .collect()
}

fn matching(c: &mut Criterion) {
    let objects = objects();
    let expected = json!({
        "metadata": {"namespace": "dev"},
        "spec": {"template": {"spec": {"containers": {"$some": [{"name": "sidecar", "image": "registry.test/proxy:1.0"}]}}}},
        "status": {"conditions": {"$some": [{"type": "Available", "status": "True"}]}}
    });
    c.bench_function("subset match, 1000 objects", |b| {
        b.iter(|| {
            objects
                .iter()
                .filter(|o| subset::matches(&expected, o))
                .count()
        })
    });
    let failing =
        json!({"spec": {"replicas": 5, "template": {"spec": {"containers": [{"name": "main"}]}}}});
    c.bench_function("subset mismatches (failing), 1000 objects", |b| {
        b.iter(|| {
            objects
                .iter()
                .map(|o| subset::mismatches(&failing, o).len())
                .sum::<usize>()
        })
    });
    let object = Expression::compile(
        "object.spec.replicas >= 1 && object.spec.template.spec.containers.exists(c, c.name == 'sidecar')",
        "object",
    )
    .unwrap();
    c.bench_function("CEL on each of 1000 objects", |b| {
        b.iter(|| {
            objects
                .iter()
                .filter(|o| object.evaluate(o) == Ok(true))
                .count()
        })
    });
    let list = Value::Array(objects.clone());
    let all = Expression::compile(
        "objects.filter(o, o.metadata.labels.tier == 'web').size() == 500",
        "objects",
    )
    .unwrap();
    c.bench_function("CEL over a list of 1000 objects", |b| {
        b.iter(|| all.evaluate(&list))
    });
}

criterion_group!(benches, matching);
criterion_main!(benches);
