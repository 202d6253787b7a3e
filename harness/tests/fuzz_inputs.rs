//! A seeded fuzz test of every file a run reads before it touches a cluster: the config, each
//! stage's `stage.yaml` and `checks.yaml`, and the pin set. Each case mutates the real file
//! (inserts YAML/TOML/template tokens, deletes, duplicates, swaps, re-indents or truncates
//! lines, replaces values) and runs what `cargo xtask integration` runs on it before the
//! provider starts: `Config::parse`, `Platform::load` and `integration::prepare` (every
//! template rendered, every manifest and check parsed). The property: nothing panics, and
//! every refusal is bad input (exit 2) naming a file and a line (`<file>:<n>`, n ≥ 1) — the
//! config's own for a config mutation.
//!
//! Seeded (`SEATRIAL_FUZZ_SEED`, a number; fixed by default) and bounded
//! (`SEATRIAL_FUZZ_CASES` cases per file, 100 by default: seconds in the suite). A failure
//! prints the shrunk mutation, the mutated text and the message.

use std::path::{Path, PathBuf};

use deployer::config::{Config, ProviderKind};
use deployer::platform::Platform;
use deployer::providers::lifecycle::apply_defaults;
use deployer::tls::PlatformTls;
use host::{Classify, ErrorClass};
use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::{
    Config as RunnerConfig, RngAlgorithm, TestCaseError, TestRng, TestRunner,
};

/// Text a mutation inserts or puts in place of a value: YAML and TOML syntax, anchors and
/// aliases, tags, keywords and numbers YAML reads as other types, out-of-range integers,
/// template syntax, control characters.
const TOKENS: &[&str] = &[
    ":",
    ": ",
    "- ",
    "-",
    "&a ",
    "*a",
    "<<: *a",
    "{",
    "}",
    "[",
    "]",
    "\"",
    "'",
    "#",
    "\t",
    "  ",
    "\n",
    "!!int ",
    "!!binary ",
    "!custom ",
    "null",
    "~",
    "yes",
    "no",
    "1e3",
    "0x1F",
    "0o17",
    "99999999999",
    "-1",
    "0",
    "1.5",
    ".inf",
    "\u{feff}",
    "é",
    "%TAG ! x\n",
    "---\n",
    "...\n",
    "key: value\n",
    "{{",
    "}}",
    "{% if %}",
    "{{ settings.nope }}",
    "{{ namespace }}",
    "=",
    "[x]\n",
    "[[x]]\n",
    "a.b = 1\n",
    "\\",
    "\u{0}",
    "\r",
    "? ",
    "|",
    ">",
    "@",
    "`",
    "%",
    "a-very-long-name-that-is-longer-than-any-dns-label-may-be-which-is-sixty-three-characters",
];

/// Where the config is said to be (it is never read from disk).
const CONFIG: &str = "/fuzz/config.yaml";

/// One mutation: (operation, where, what).
type Mutation = (u8, Index, Index);

fn mutations() -> impl Strategy<Value = Vec<Mutation>> {
    prop::collection::vec((0u8..8, any::<Index>(), any::<Index>()), 1..4)
}

/// Applies `mutations` to `text`, line-wise.
fn mutate(text: &str, mutations: &[Mutation]) -> String {
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    for (operation, at, what) in mutations {
        if lines.is_empty() {
            lines.push(String::new());
        }
        let line = at.index(lines.len());
        let token = TOKENS[what.index(TOKENS.len())];
        match operation {
            // Insert a token somewhere in a line.
            0 => {
                let target = &mut lines[line];
                let mut position = what.index(target.len() + 1);
                while !target.is_char_boundary(position) {
                    position -= 1;
                }
                target.insert_str(position, token);
            }
            1 => {
                lines.remove(line);
            }
            2 => {
                let copy = lines[line].clone();
                lines.insert(line, copy);
            }
            // Replace what follows the first `:` or `=` with a token.
            3 => {
                let target = &mut lines[line];
                if let Some(split) = target.find([':', '=']) {
                    target.truncate(split + 1);
                    target.push(' ');
                    target.push_str(token);
                }
            }
            4 => lines.truncate(line),
            5 => {
                let other = what.index(lines.len());
                lines.swap(line, other);
            }
            6 => lines[line].insert_str(0, "  "),
            _ => {
                let target = &mut lines[line];
                let trimmed = target.trim_start().to_owned();
                *target = trimmed;
            }
        }
    }
    let mut mutated = lines.join("\n");
    mutated.push('\n');
    mutated
}

/// The `<file>:<line>` locations in `message` of files whose path starts with `prefix`.
fn locations(message: &str, prefix: &str) -> Vec<(String, usize)> {
    let mut found = Vec::new();
    for (start, _) in message.match_indices(prefix) {
        let rest = &message[start..];
        let Some(colon) = rest.find(':') else {
            continue;
        };
        let digits: String = rest[colon + 1..]
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        if let Ok(line) = digits.parse() {
            found.push((rest[..colon].to_owned(), line));
        }
    }
    found
}

/// Fails the case unless `message` names a file under one of `prefixes` at a line ≥ 1.
fn assert_located(message: &str, prefixes: &[&str], text: &str) -> Result<(), TestCaseError> {
    let located = prefixes.iter().any(|prefix| {
        locations(message, prefix)
            .iter()
            .any(|(_, line)| *line >= 1)
    });
    if located {
        Ok(())
    } else {
        Err(TestCaseError::fail(format!(
            "the error names no line of a file under {}:\n  message: {message}\n  mutated text:\n{text}",
            prefixes.join(" or ")
        )))
    }
}

fn assert_bad_input(error: &deployer::Error, text: &str) -> Result<String, TestCaseError> {
    let message = host::error_chain(error);
    if error.class() == ErrorClass::BadInput {
        Ok(message)
    } else {
        Err(TestCaseError::fail(format!(
            "refused as {:?}, not bad input (exit 2):\n  message: {message}\n  mutated text:\n{text}",
            error.class()
        )))
    }
}

/// What a run does with its inputs before the provider starts.
fn prepare(platform: &Platform, config: &Config, tls: &PlatformTls) -> deployer::Result<()> {
    harness::integration::prepare(platform, config, None, false, false, tls).map(drop)
}

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_owned()
}

fn runner() -> TestRunner {
    let seed: u64 = std::env::var("SEATRIAL_FUZZ_SEED")
        .ok()
        .and_then(|seed| seed.parse().ok())
        .unwrap_or(20_261_202);
    let cases = std::env::var("SEATRIAL_FUZZ_CASES")
        .ok()
        .and_then(|cases| cases.parse().ok())
        .unwrap_or(100);
    let mut bytes = [0u8; 32];
    bytes[..8].copy_from_slice(&seed.to_le_bytes());
    let config = RunnerConfig {
        cases,
        failure_persistence: None,
        rng_algorithm: RngAlgorithm::ChaCha,
        ..RunnerConfig::default()
    };
    TestRunner::new_with_rng(config, TestRng::from_seed(RngAlgorithm::ChaCha, &bytes))
}

/// Runs the cases; a failure panics with proptest's shrunk case.
fn fuzz(test: impl Fn(Vec<Mutation>) -> Result<(), TestCaseError>) {
    if let Err(failure) = runner().run(&mutations(), test) {
        panic!("{failure}");
    }
}

/// Copies the repository's platform into `dir/platform`, its pin set to `dir/pins.toml`.
fn copy_platform(dir: &Path) -> PathBuf {
    let source = repo_root().join("deployer/stages");
    let platform = dir.join("platform");
    copy_dir(&source, &platform);
    std::fs::copy(repo_root().join("pins/pins.toml"), dir.join("pins.toml")).unwrap();
    let platform_file = platform.join("platform.yaml");
    let text = std::fs::read_to_string(&platform_file).unwrap();
    let text: String = text
        .lines()
        .map(|line| {
            if line.starts_with("pins:") {
                "pins: ../pins.toml".to_owned()
            } else {
                line.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    std::fs::write(&platform_file, text + "\n").unwrap();
    platform
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap().flatten() {
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// The embedded default config with the hollow provider (what the tests deploy to).
fn config_text() -> String {
    deployer::config::DEFAULT_CONFIG.replace("provider: local", "provider: hollow")
}

#[test]
fn a_mutated_config_is_refused_at_its_own_line_or_accepted() {
    let platform = Platform::load(&repo_root().join("deployer/stages")).unwrap();
    let tls = PlatformTls::for_domain("seatrial", "seatrial.test").unwrap();
    let original = config_text();
    let path = Path::new(CONFIG);
    fuzz(|mutations| {
        let text = mutate(&original, &mutations);
        let result = Config::parse(path, &text).and_then(|mut config| {
            let provider = config.provider;
            apply_defaults(&mut config, provider, &platform);
            prepare(&platform, &config, &tls)
        });
        match result {
            Ok(()) => Ok(()),
            Err(error) => {
                let message = assert_bad_input(&error, &text)?;
                assert_located(&message, &[CONFIG], &text)
            }
        }
    });
}

/// Mutates `relative` (a file of the platform copy, or `pins.toml` beside it) and loads and
/// prepares the platform with the default config.
fn fuzz_platform_file(relative: &str) {
    let dir = tempfile::tempdir().unwrap();
    let platform_dir = copy_platform(dir.path());
    let file = dir.path().join(relative);
    let original = std::fs::read_to_string(&file).unwrap();
    let config = Config::parse(Path::new(CONFIG), &config_text()).unwrap();
    let tls = PlatformTls::for_domain("seatrial", "seatrial.test").unwrap();
    let prefix = dir.path().display().to_string();
    fuzz(|mutations| {
        let text = mutate(&original, &mutations);
        std::fs::write(&file, &text).unwrap();
        let result = Platform::load(&platform_dir).and_then(|platform| {
            let mut config = config.clone();
            apply_defaults(&mut config, ProviderKind::Hollow, &platform);
            prepare(&platform, &config, &tls)
        });
        match result {
            Ok(()) => Ok(()),
            Err(error) => {
                let message = assert_bad_input(&error, &text)?;
                // A setting the mutation removed from a stage is refused where the config
                // sets it: the config's line is as good a location.
                assert_located(&message, &[&prefix, CONFIG], &text)
            }
        }
    });
}

#[test]
fn a_mutated_stage_file_is_refused_at_a_line_or_accepted() {
    fuzz_platform_file("platform/ingress/stage.yaml");
    fuzz_platform_file("platform/jupyterhub/stage.yaml");
}

#[test]
fn a_mutated_checks_file_is_refused_at_a_line_or_accepted() {
    fuzz_platform_file("platform/ingress/checks.yaml");
    fuzz_platform_file("platform/keycloak/checks.yaml");
}

#[test]
fn a_mutated_pin_set_is_refused_at_a_line_or_accepted() {
    fuzz_platform_file("pins.toml");
}

#[test]
fn the_location_finder_reads_file_and_line() {
    assert_eq!(
        locations("/fuzz/config.yaml:7: `replicas` …", "/fuzz/config.yaml"),
        vec![("/fuzz/config.yaml".to_owned(), 7)]
    );
    assert!(assert_located("/fuzz/config.yaml:0: whole file", &["/fuzz"], "").is_err());
    assert!(assert_located("no location", &["/fuzz"], "").is_err());
    assert!(assert_located("/tmp/x/stage.yaml:3: bad", &["/fuzz", "/tmp/x"], "").is_ok());
}
