//! The scenarios: what each one does, step by step.

use fantoccini::Client;

use crate::error::{Error, Result};
use crate::jupyterhub as hub;
use crate::options::ScenarioOptions;
use crate::step_error::StepError;
use crate::steps::{StepFailure, Steps};

/// A browser scenario. Each runs in its own fresh browser session and logs in itself, so any
/// one can run alone (`--only`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scenario {
    /// The login page, a wrong password refused, the right one landing on `/hub/home` with
    /// the user's name shown.
    Login,
    /// Start the server (choosing the profile), open JupyterLab, create a notebook, run a
    /// cell, read its output, save, stop the server and confirm it stopped.
    SpawnAndRunNotebook,
    /// Log out; protected pages then redirect to the login page.
    Logout,
    /// Create a token on the token page and use it against `/hub/api/user`.
    HubApiToken,
    /// The analyst logs in and is refused `/hub/admin` (403); the admin logs in after them
    /// and sees the admin page listing the analyst.
    Roles,
}

impl Scenario {
    /// Every scenario, in the order they run.
    pub const ALL: [Scenario; 5] = [
        Scenario::Login,
        Scenario::SpawnAndRunNotebook,
        Scenario::Logout,
        Scenario::HubApiToken,
        Scenario::Roles,
    ];

    /// The scenario's name, as `--only` takes it and as its trial is named
    /// (`scenarios::<name>`).
    pub fn name(self) -> &'static str {
        match self {
            Scenario::Login => "login",
            Scenario::SpawnAndRunNotebook => "spawn_and_run_notebook",
            Scenario::Logout => "logout",
            Scenario::HubApiToken => "hub_api_token",
            Scenario::Roles => "roles",
        }
    }

    /// Finds a scenario by name. Errors: [`Error::UnknownScenario`] listing the valid names.
    pub fn from_name(name: &str) -> Result<Scenario> {
        Scenario::ALL
            .into_iter()
            .find(|scenario| scenario.name() == name)
            .ok_or_else(|| Error::UnknownScenario {
                name: name.to_owned(),
                valid: Scenario::ALL
                    .iter()
                    .map(|scenario| scenario.name())
                    .collect(),
            })
    }

    /// The scenarios named in `only`, in [`Scenario::ALL`]'s order, or all when it is empty.
    pub fn select(only: &[String]) -> Result<Vec<Scenario>> {
        let wanted: Vec<Scenario> = only
            .iter()
            .map(|name| Scenario::from_name(name))
            .collect::<Result<_>>()?;
        Ok(Scenario::ALL
            .into_iter()
            .filter(|scenario| wanted.is_empty() || wanted.contains(scenario))
            .collect())
    }

    /// Runs the scenario's steps in `client`, recording each in `steps`.
    pub async fn steps(
        self,
        client: &Client,
        options: &ScenarioOptions,
        steps: &mut Steps,
    ) -> Result<(), StepFailure> {
        match self {
            Scenario::Login => login(client, options, steps).await,
            Scenario::SpawnAndRunNotebook => spawn_and_run_notebook(client, options, steps).await,
            Scenario::Logout => logout(client, options, steps).await,
            Scenario::HubApiToken => hub_api_token(client, options, steps).await,
            Scenario::Roles => roles(client, options, steps).await,
        }
    }
}

/// A name no earlier run used: `seatrial-trial-<unix seconds>.ipynb`.
fn notebook_name() -> String {
    let seconds = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|elapsed| elapsed.as_secs())
        .unwrap_or_default();
    format!("seatrial-trial-{seconds}.ipynb")
}

async fn login(
    client: &Client,
    options: &ScenarioOptions,
    steps: &mut Steps,
) -> Result<(), StepFailure> {
    steps
        .run(
            "a wrong password is refused",
            hub::refuse_wrong_password(client, options),
        )
        .await?;
    let form = steps
        .run("open the login page", hub::open_login(client, options))
        .await?;
    steps
        .run(
            "log in and land on /hub/home",
            hub::submit_login(client, options, form, options.password.expose()),
        )
        .await
}

async fn spawn_and_run_notebook(
    client: &Client,
    options: &ScenarioOptions,
    steps: &mut Steps,
) -> Result<(), StepFailure> {
    steps.run("log in", hub::log_in(client, options)).await?;
    steps
        .run("start the server", hub::start_server(client, options))
        .await?;
    steps
        .run("wait for JupyterLab", hub::await_lab(client, options))
        .await?;
    let file = steps
        .run("create a notebook", hub::new_notebook(client, options))
        .await?;
    steps
        .run("wait for the kernel", hub::await_kernel(client, options))
        .await?;
    let cell = &options.cell;
    steps
        .run(
            &format!("run `{}`", cell.source),
            hub::run_first_cell(client, options, &cell.source),
        )
        .await?;
    steps
        .run(
            &format!("read `{}` from the output", cell.expected),
            async {
                let output = hub::first_output(client, options).await?;
                if output == cell.expected {
                    Ok(())
                } else {
                    Err(StepError::Unexpected(format!(
                        "the output of `{}` reads `{output}`, expected `{}`",
                        cell.source, cell.expected
                    )))
                }
            },
        )
        .await?;
    steps
        .run(
            "save the notebook",
            hub::save_and_verify(
                client,
                options,
                &file,
                &notebook_name(),
                &cell.source,
                &cell.expected,
            ),
        )
        .await?;
    steps
        .run(
            "stop the server from the hub",
            hub::stop_server(client, options),
        )
        .await?;
    steps
        .run(
            "confirm the server stopped",
            hub::confirm_stopped(client, options),
        )
        .await
}

async fn roles(
    client: &Client,
    options: &ScenarioOptions,
    steps: &mut Steps,
) -> Result<(), StepFailure> {
    let users = steps
        .run("know the admin and the analyst", async {
            options.roles.clone().ok_or_else(|| {
                StepError::from("no admin and analyst users were given to log in as (the platform's trial-admin and trial-analyst Secrets)")
            })
        })
        .await?;
    let (admin, analyst) = (&users.admin, &users.analyst);
    steps.secrets.push(admin.password.expose().to_owned());
    steps.secrets.push(analyst.password.expose().to_owned());
    steps
        .run(
            &format!("log in as the analyst `{}`", analyst.user),
            hub::log_in_as(client, options, &analyst.user, analyst.password.expose()),
        )
        .await?;
    steps
        .run(
            "the analyst is refused /hub/admin (403)",
            hub::refused_admin_page(client, options, &analyst.user),
        )
        .await?;
    steps
        .run("forget the analyst's session", hub::forget_session(client))
        .await?;
    steps
        .run(
            &format!("log in as the admin `{}`", admin.user),
            hub::log_in_as(client, options, &admin.user, admin.password.expose()),
        )
        .await?;
    steps
        .run(
            "the admin sees /hub/admin listing the analyst",
            hub::admin_sees_users(client, options, &admin.user, &analyst.user),
        )
        .await
}

async fn logout(
    client: &Client,
    options: &ScenarioOptions,
    steps: &mut Steps,
) -> Result<(), StepFailure> {
    steps.run("log in", hub::log_in(client, options)).await?;
    steps.run("log out", hub::log_out(client, options)).await?;
    for path in ["/hub/home", "/hub/token", "/hub/spawn"] {
        steps
            .run(
                &format!("{path} redirects to the login page"),
                hub::redirects_to_login(client, options, path),
            )
            .await?;
    }
    Ok(())
}

async fn hub_api_token(
    client: &Client,
    options: &ScenarioOptions,
    steps: &mut Steps,
) -> Result<(), StepFailure> {
    steps.run("log in", hub::log_in(client, options)).await?;
    let token = steps
        .run(
            "request a token on /hub/token",
            hub::request_token(client, options, "seatrial hub_api_token scenario"),
        )
        .await?;
    steps.secrets.push(token.clone());
    // Leave the page that shows the token, so no later screenshot holds it.
    steps
        .run(
            "leave the token page",
            crate::steps::open(client, &options.url("/hub/home")),
        )
        .await?;
    steps
        .run("the token reads /hub/api/user", async {
            let (status, body) = hub::api_user(options, &token).await?;
            match (status, body["name"].as_str()) {
                (200, Some(name)) if name == options.user => Ok(()),
                (200, name) => Err(StepError::Unexpected(format!(
                    "/hub/api/user answered for `{}`, expected `{}`",
                    name.unwrap_or("<no name>"),
                    options.user
                ))),
                (status, _) => Err(StepError::Unexpected(format!(
                    "/hub/api/user answered HTTP {status} to the new token"
                ))),
            }
        })
        .await?;
    steps
        .run("a wrong token is refused", async {
            let (status, _) = hub::api_user(options, &format!("{token}x")).await?;
            match status {
                401 | 403 => Ok(()),
                status => Err(StepError::Unexpected(format!(
                    "/hub/api/user answered HTTP {status} to a wrong token"
                ))),
            }
        })
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unknown_scenario_lists_the_valid_ones() {
        let error = Scenario::select(&["logn".into()]).unwrap_err();
        assert_eq!(
            error.to_string(),
            "unknown scenario `logn`; the scenarios are: login, spawn_and_run_notebook, logout, hub_api_token, roles"
        );
    }

    #[test]
    fn only_keeps_the_catalog_order() {
        let selected = Scenario::select(&["hub_api_token".into(), "login".into()]).unwrap();
        assert_eq!(selected, vec![Scenario::Login, Scenario::HubApiToken]);
        assert_eq!(Scenario::select(&[]).unwrap().len(), 5);
    }
}
