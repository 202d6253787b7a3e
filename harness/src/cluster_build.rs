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
    let result = binaries::ensure(&default_pins_file(), recipes, &mut on_event);
    if let Some(spinner) = bar.take() {
        spinner.finish_and_clear();
    }
    result
}
