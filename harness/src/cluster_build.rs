//! The cluster binaries, Helm and images, built with an event per recipe: what is built and
//! its log while it builds (minutes for Kubernetes), then how long it took.

use deployer::error::Result;
use deployer::pins::default_pins_file;
use deployer::providers::binaries::{self, BuildEvent, ClusterBinaries};

use crate::events::{Event, Reporter};

/// [`binaries::ensure`] for the `recipes` named, versions from the shipped pin set, reporting
/// each recipe it builds. Errors: those of [`binaries::ensure`].
pub fn ensure(recipes: &[&str], reporter: &dyn Reporter) -> Result<ClusterBinaries> {
    with_events(reporter, |on_event| {
        binaries::ensure(&default_pins_file(), recipes, on_event)
    })
}

/// Runs `build`, turning each recipe it builds into [`Event::BuildStarted`] (recipe,
/// version, log) and [`Event::BuildFinished`].
pub fn with_events<T>(
    reporter: &dyn Reporter,
    build: impl FnOnce(&mut dyn FnMut(BuildEvent)) -> Result<T>,
) -> Result<T> {
    let mut on_event = |event: BuildEvent| match event {
        BuildEvent::Building { name, version, log } => reporter.report(Event::BuildStarted {
            what: format!("{name} {version} from the Go module proxy"),
            log,
        }),
        BuildEvent::Built { name, seconds } => reporter.report(Event::BuildFinished {
            what: name,
            built: true,
            seconds,
        }),
    };
    build(&mut on_event)
}

/// Every image recipe of the pin set at `pins_file`, built (or found cached) one after the
/// other, each reported while mmdebstrap runs.
///
/// Errors: those of [`deployer::images::recipe::load`] and [`deployer::images::build::ensure`].
pub fn ensure_images(
    pins_file: &std::path::Path,
    reporter: &dyn Reporter,
) -> Result<Vec<deployer::images::BuiltImage>> {
    use deployer::images::{build, recipe};
    let mut built = Vec::new();
    for recipe in recipe::load(pins_file)? {
        reporter.report(Event::BuildStarted {
            what: format!(
                "image {}: checking the cache, or building from Debian {} and {} packages",
                recipe.name,
                recipe.debian,
                recipe.packages.len()
            ),
            log: build::cache_dir(&recipe).join("build.log"),
        });
        let started = std::time::Instant::now();
        let image = build::ensure(&recipe, pins_file)?;
        reporter.report(Event::BuildFinished {
            what: format!("image {}", image.reference),
            built: image.built,
            seconds: started.elapsed().as_secs_f64(),
        });
        built.push(image);
    }
    Ok(built)
}

/// The kind node image of the pin set at `pins_file` ([`deployer::images::kind_node`]),
/// built (or found cached), its binaries' builds and its own reported.
///
/// Errors: those of [`deployer::images::kind_node::ensure`].
pub fn ensure_node_image(
    pins_file: &std::path::Path,
    reporter: &dyn Reporter,
) -> Result<deployer::images::kind_node::NodeImage> {
    with_events(reporter, |on_event| {
        let node = deployer::images::kind_node::ensure(pins_file, on_event)?;
        reporter.report(Event::BuildFinished {
            what: format!("kind node image {}", node.image.reference),
            built: node.image.built,
            seconds: node.seconds,
        });
        Ok(node)
    })
}

/// What kind on podman runs that is built here: kind itself (the `kind` recipe) and the
/// node image, each build reported. Errors: those of the two builds.
pub fn ensure_kind_and_node_image(
    pins_file: &std::path::Path,
    reporter: &dyn Reporter,
) -> Result<(ClusterBinaries, deployer::images::kind_node::NodeImage)> {
    let kind = with_events(reporter, |on_event| {
        binaries::ensure(pins_file, &["kind"], on_event)
    })?;
    Ok((kind, ensure_node_image(pins_file, reporter)?))
}
