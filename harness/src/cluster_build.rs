//! The cluster binaries, built with a progress line per recipe: a spinner naming the recipe,
//! its version and its log while it builds (minutes for Kubernetes), then how long it took.

use std::time::Duration;

use deployer::error::Result;
use deployer::pins::default_pins_file;
use deployer::providers::binaries::{self, BuildEvent, ClusterBinaries};
use indicatif::{ProgressBar, ProgressStyle};

/// [`binaries::ensure`] for the `recipes` named, versions from the shipped pin set, drawing a
/// spinner on stderr while a recipe builds. Errors: those of [`binaries::ensure`].
pub fn ensure(recipes: &[&str]) -> Result<ClusterBinaries> {
    with_spinner(|on_event| binaries::ensure(&default_pins_file(), recipes, on_event))
}

/// Runs `build`, drawing a spinner on stderr for each recipe it builds (naming the recipe,
/// its version and its log) and a line with its time when done.
pub fn with_spinner<T>(build: impl FnOnce(&mut dyn FnMut(BuildEvent)) -> Result<T>) -> Result<T> {
    let mut bar: Option<ProgressBar> = None;
    let mut on_event = |event: BuildEvent| match event {
        BuildEvent::Building { name, version, log } => {
            let spinner = ProgressBar::new_spinner();
            spinner.set_style(
                ProgressStyle::with_template("{spinner} {msg} [{elapsed}]")
                    .expect("a valid template"),
            );
            spinner.set_message(format!(
                "building {name} {version} from the Go module proxy (log: {})",
                log.display()
            ));
            spinner.enable_steady_tick(Duration::from_millis(120));
            bar = Some(spinner);
        }
        BuildEvent::Built { name, seconds } => {
            if let Some(spinner) = bar.take() {
                spinner.finish_and_clear();
            }
            eprintln!("built {name} in {seconds:.0} s");
        }
    };
    let result = build(&mut on_event);
    if let Some(spinner) = bar.take() {
        spinner.finish_and_clear();
    }
    result
}

/// Every image recipe of the pin set at `pins_file`, built (or found cached) one after the
/// other with a spinner naming the recipe and its log while mmdebstrap runs.
///
/// Errors: those of [`deployer::images::recipe::load`] and [`deployer::images::build::ensure`].
pub fn ensure_images(pins_file: &std::path::Path) -> Result<Vec<deployer::images::BuiltImage>> {
    use deployer::images::{build, recipe};
    let mut built = Vec::new();
    for recipe in recipe::load(pins_file)? {
        let spinner = ProgressBar::new_spinner();
        spinner.set_style(
            ProgressStyle::with_template("{spinner} {msg} [{elapsed}]").expect("a valid template"),
        );
        spinner.set_message(format!(
            "image {}: checking the cache, or building from Debian {} and {} packages (log: {})",
            recipe.name,
            recipe.debian,
            recipe.packages.len(),
            build::cache_dir(&recipe).join("build.log").display()
        ));
        spinner.enable_steady_tick(Duration::from_millis(120));
        let started = std::time::Instant::now();
        let result = build::ensure(&recipe, pins_file);
        spinner.finish_and_clear();
        let image = result?;
        if image.built {
            eprintln!(
                "built image {} in {:.0} s",
                image.reference,
                started.elapsed().as_secs_f64()
            );
        }
        built.push(image);
    }
    Ok(built)
}
