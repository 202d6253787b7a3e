//! `cargo xtask scenarios`: the browser scenarios against any JupyterHub.

use std::net::IpAddr;
use std::path::PathBuf;

use clap::Args;
use harness::checks::Trust;
use harness::scenarios::{hub_options, HubTarget};
use scenarios::{Credentials, Password, RoleUsers, Scenario, ScenarioOutcome};

use crate::exit;

/// The variable holding `--admin-user`'s password.
const ADMIN_PASSWORD_ENV: &str = "SEATRIAL_ADMIN_PASSWORD";
/// The variable holding `--analyst-user`'s password.
const ANALYST_PASSWORD_ENV: &str = "SEATRIAL_ANALYST_PASSWORD";

/// Arguments of the subcommand (its help text is on `Command` in main.rs).
#[derive(Args)]
pub struct Scenarios {
    /// The hub's base URL; the hub is at <URL>/hub/ (e.g. https://seatrial.test/).
    #[arg(long, value_name = "URL")]
    base_url: String,
    /// The user to log in as.
    #[arg(long, value_name = "USER")]
    user: String,
    /// The environment variable holding the user's password (never a flag: flags show in `ps`).
    #[arg(long, value_name = "VAR")]
    password_env: String,
    /// Run only this scenario (repeatable): login, spawn_and_run_notebook, logout,
    /// hub_api_token, roles.
    #[arg(long, value_name = "NAME")]
    only: Vec<String>,
    /// For `roles`: a user the hub makes an admin (password in $SEATRIAL_ADMIN_PASSWORD).
    #[arg(long, value_name = "USER", requires = "analyst_user")]
    admin_user: Option<String>,
    /// For `roles`: a user who must be refused /hub/admin (password in
    /// $SEATRIAL_ANALYST_PASSWORD).
    #[arg(long, value_name = "USER", requires = "admin_user")]
    analyst_user: Option<String>,
    /// The profile to choose on the spawn form, when the hub offers profiles.
    #[arg(long, value_name = "SLUG")]
    profile: Option<String>,
    /// Map the URL's host (and its subdomains) to this address, for domains not in DNS.
    #[arg(long, value_name = "IP")]
    address: Option<IpAddr>,
    /// Trust the hub's certificate if it chains to this CA bundle (PEM).
    #[arg(long, value_name = "FILE", conflicts_with = "insecure")]
    ca: Option<PathBuf>,
    /// Accept whatever certificate the hub presents (the browser ignores errors for that
    /// certificate's key only).
    #[arg(long)]
    insecure: bool,
    /// Where scenarios.json, junit.xml and failure artifacts go
    /// [default: target/seatrial/scenarios-<time>].
    #[arg(long, value_name = "DIR")]
    report_dir: Option<PathBuf>,
}

impl Scenarios {
    pub async fn run(self) -> u8 {
        let selected = match Scenario::select(&self.only) {
            Ok(selected) => selected,
            Err(error) => {
                eprintln!("error: {error}");
                return exit::BAD_INPUT;
            }
        };
        let password = match std::env::var(&self.password_env) {
            Ok(password) if !password.is_empty() => password,
            _ => {
                eprintln!(
                    "error: --password-env {0}: the environment variable {0} is not set (or empty)\n  hint: export {0}=… before running",
                    self.password_env
                );
                return exit::BAD_INPUT;
            }
        };
        if let Err(error) = scenarios::driver::BrowserBinaries::locate() {
            eprintln!("error: {error}");
            return exit::ENVIRONMENT_MISSING;
        }
        let report_dir = self.report_dir.clone().unwrap_or_else(|| {
            exit::reports_root().join(format!("scenarios-{}", deployer::inventory::new_run_id()))
        });
        if let Err(error) = std::fs::create_dir_all(&report_dir) {
            eprintln!("error: failed to create {}: {error}", report_dir.display());
            return exit::BAD_INPUT;
        }
        let roles = match (&self.admin_user, &self.analyst_user) {
            (Some(admin), Some(analyst)) => {
                let secret = |var: &str| std::env::var(var).ok().filter(|value| !value.is_empty());
                match (secret(ADMIN_PASSWORD_ENV), secret(ANALYST_PASSWORD_ENV)) {
                    (Some(admin_password), Some(analyst_password)) => Some(RoleUsers {
                        admin: Credentials {
                            user: admin.clone(),
                            password: Password::new(admin_password),
                        },
                        analyst: Credentials {
                            user: analyst.clone(),
                            password: Password::new(analyst_password),
                        },
                    }),
                    _ => {
                        eprintln!("error: --admin-user and --analyst-user need their passwords in ${ADMIN_PASSWORD_ENV} and ${ANALYST_PASSWORD_ENV}");
                        return exit::BAD_INPUT;
                    }
                }
            }
            _ => None,
        };
        let target = HubTarget {
            base_url: self.base_url.clone(),
            user: self.user.clone(),
            password: Password::new(password),
            address: self.address,
            trust: match (&self.ca, self.insecure) {
                (Some(ca), _) => Trust::Ca(ca.clone()),
                (None, true) => Trust::Insecure,
                (None, false) => Trust::System,
            },
            profile: self.profile.clone(),
            roles,
        };
        let options = match hub_options(&target, &report_dir.join("scenarios")).await {
            Ok(options) => options,
            Err(error) => {
                eprintln!("error: the hub at {}: {error}", self.base_url);
                return exit::BAD_INPUT;
            }
        };
        let run = scenarios::run::run_scenarios(&selected, &options);
        let records = tokio::select! {
            result = run => result,
            _ = tokio::signal::ctrl_c() => {
                // Dropping the run closed the browser and chromedriver (their Drop kills them).
                eprintln!("interrupted: the browser is closed");
                return exit::CHECKS_FAILED;
            }
        };
        let records = match records {
            Ok(records) => records,
            Err(error) => return exit::report(&error),
        };
        for record in &records {
            let outcome = match record.outcome {
                ScenarioOutcome::Passed => "ok",
                ScenarioOutcome::Failed => "FAILED",
                ScenarioOutcome::Skipped => "skipped",
            };
            println!(
                "{} ... {outcome} ({:.1} s)",
                record.trial_name(),
                record.seconds
            );
            print!("{}", scenarios::report::step_lines(record));
            if let Some(message) = &record.message {
                println!("  {message}");
            }
            for file in record
                .artifacts
                .iter()
                .flat_map(|artifacts| artifacts.files())
            {
                println!("  artifact: {}", file.display());
            }
        }
        write_reports(&records, &report_dir);
        println!("reports: {}", report_dir.display());
        if records
            .iter()
            .any(|record| record.outcome == ScenarioOutcome::Failed)
        {
            exit::CHECKS_FAILED
        } else {
            exit::SUCCESS
        }
    }
}

fn write_reports(records: &[scenarios::ScenarioRecord], dir: &std::path::Path) {
    let json = dir.join("scenarios.json");
    let text = serde_json::to_string_pretty(records).unwrap_or_default();
    if let Err(error) = std::fs::write(&json, text) {
        eprintln!("warning: failed to write {}: {error}", json.display());
    }
    let mut report = quick_junit::Report::new("seatrial scenarios");
    report.add_test_suite(scenarios::report::junit_suite(records));
    let junit = dir.join("junit.xml");
    let written = report
        .to_string()
        .map_err(std::io::Error::other)
        .and_then(|xml| std::fs::write(&junit, xml));
    if let Err(error) = written {
        eprintln!("warning: failed to write {}: {error}", junit.display());
    }
}
