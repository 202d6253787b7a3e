//! JupyterHub's pages as a person uses them: the login form (the hub's own, or Keycloak's
//! behind an OAuth button), home, spawn with profiles, JupyterLab, the token page.
//!
//! Selectors come from JupyterHub 6's templates (`login.html`, `home.html`, `token.html`,
//! `spawn.html`), Keycloak's login theme (`#username`, `#password`, `#kc-login`), and
//! JupyterLab 4's DOM (`.jp-LauncherCard`, `.jp-NotebookPanel`, CodeMirror 6 `.cm-content`).

use std::time::Duration;

use fantoccini::{Client, Locator};
use serde_json::{json, Value};

use crate::options::ScenarioOptions;
use crate::step_error::{webdriver, StepError};
use crate::steps::{click, current_url, element, open, page_seen, until, visible, Poll};

/// The hub's own login form.
const HUB_USERNAME: &str = "#username_input";
const HUB_PASSWORD: &str = "#password_input";
const HUB_SUBMIT: &str = "#login_submit";
const HUB_LOGIN_ERROR: &str = ".login_error";
/// Keycloak's login form.
const KC_USERNAME: &str = "#username";
const KC_PASSWORD: &str = "#password";
const KC_SUBMIT: &str = "#kc-login";
const KC_ERROR: &str = "#input-error, #input-error-username, .kc-feedback-text, .alert-error";
/// The button an OAuthenticator puts on the hub's login page.
const OAUTH_BUTTON: &str = "a[href*='oauth_login']";

/// Which login form the hub presented.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LoginForm {
    /// JupyterHub's own form (native, dummy or PAM authenticators).
    Hub,
    /// Keycloak's form, reached through the hub's OAuth button or its auto-login redirect.
    Keycloak,
}

fn page(options: &ScenarioOptions) -> Duration {
    Duration::from_secs(options.timeouts.page_seconds)
}

/// The path of a URL, or the whole text when it does not parse.
fn path_of(url: &str) -> String {
    url::Url::parse(url)
        .map(|url| url.path().to_owned())
        .unwrap_or_else(|_| url.to_owned())
}

/// The base URL's path prefix (`""` for a hub at the root).
fn prefix(options: &ScenarioOptions) -> String {
    path_of(options.base()).trim_end_matches('/').to_owned()
}

/// Opens `<base>/hub/login?next=<prefix>/hub/home` and waits for a login form, following the
/// OAuth button to Keycloak when the hub shows one.
pub async fn open_login(
    client: &Client,
    options: &ScenarioOptions,
) -> Result<LoginForm, StepError> {
    let next = format!("{}/hub/home", prefix(options));
    let url = options.url(&format!("/hub/login?next={}", encode(&next)));
    open(client, &url).await?;
    let started = std::time::Instant::now();
    let clicked: std::cell::Cell<Option<f64>> = std::cell::Cell::new(None);
    until(page(options), "login form", || async {
        if visible(client, HUB_USERNAME).await.is_some() {
            return Poll::Ready(LoginForm::Hub);
        }
        if visible(client, KC_SUBMIT).await.is_some() {
            return Poll::Ready(LoginForm::Keycloak);
        }
        if clicked.get().is_none() {
            if let Some(button) = visible(client, OAUTH_BUTTON).await {
                if button.click().await.is_ok() {
                    clicked.set(Some(started.elapsed().as_secs_f64()));
                }
            }
        }
        let seen = page_seen(client).await;
        Poll::Pending(match clicked.get() {
            Some(at) => format!("{seen}, the OAuth button clicked at {at:.1} s"),
            None => format!("{seen}, no OAuth button seen"),
        })
    })
    .await
}

/// Types the credentials into `form` and submits it, then waits for `/hub/home` showing the
/// user's name. Errors: [`StepError::LoginRefused`] with the form's error text ("Invalid
/// username or password"), or another [`StepError`] saying where the browser ended up.
pub async fn submit_login(
    client: &Client,
    options: &ScenarioOptions,
    form: LoginForm,
    password: &str,
) -> Result<(), StepError> {
    submit_login_as(client, options, form, &options.user, password).await
}

/// [`submit_login`] as `user`.
pub async fn submit_login_as(
    client: &Client,
    options: &ScenarioOptions,
    form: LoginForm,
    user: &str,
    password: &str,
) -> Result<(), StepError> {
    let (username, password_field, submit, error) = match form {
        LoginForm::Hub => (HUB_USERNAME, HUB_PASSWORD, HUB_SUBMIT, HUB_LOGIN_ERROR),
        LoginForm::Keycloak => (KC_USERNAME, KC_PASSWORD, KC_SUBMIT, KC_ERROR),
    };
    let timeout = page(options);
    type_into(client, username, user, timeout).await?;
    type_into(client, password_field, password, timeout).await?;
    click(client, submit, timeout, "click the login button").await?;
    let home = format!("{}/hub/home", prefix(options));
    until(timeout, "hub home page after login", || async {
        if let Some(refusal) = visible(client, error).await {
            let text = refusal.text().await.unwrap_or_default();
            if !text.trim().is_empty() {
                return Poll::Fail(StepError::LoginRefused(text.trim().to_owned()));
            }
        }
        let url = current_url(client).await;
        if path_of(&url) != home {
            return Poll::Pending(url);
        }
        match shows_user(client, user).await {
            true => Poll::Ready(()),
            false => Poll::Pending(format!("{url} without the name `{user}` shown")),
        }
    })
    .await
}

/// Whether the page shows `user` as the text of an element (the navbar's user name).
async fn shows_user(client: &Client, user: &str) -> bool {
    let xpath = format!("//*[normalize-space(text())={}]", xpath_literal(user));
    client.find(Locator::XPath(&xpath)).await.is_ok()
}

/// Logs in with the configured password (open the login page, submit, land on home).
pub async fn log_in(client: &Client, options: &ScenarioOptions) -> Result<(), StepError> {
    let form = open_login(client, options).await?;
    submit_login(client, options, form, options.password.expose()).await
}

/// Logs in as `user` in a browser with no session yet (or after [`forget_session`]).
pub async fn log_in_as(
    client: &Client,
    options: &ScenarioOptions,
    user: &str,
    password: &str,
) -> Result<(), StepError> {
    let form = open_login(client, options).await?;
    submit_login_as(client, options, form, user, password).await
}

/// Deletes every cookie of the browser — the hub's session and the identity provider's
/// (Keycloak scopes its cookies to the realm's path, which WebDriver's own Delete All
/// Cookies does not reach from a hub page) — so the next login is a new user.
pub async fn forget_session(client: &Client) -> Result<(), StepError> {
    client
        .issue_cmd(crate::browser::clear_browser_cookies())
        .await
        .map(drop)
        .map_err(webdriver("clear the browser's cookies"))
}

/// What `/hub/admin` showed.
enum AdminPage {
    /// JupyterHub's admin app, with `listed` shown in it.
    Listed,
    /// JupyterHub's 403 page.
    Forbidden,
}

/// Opens `/hub/admin` and waits for either the admin app showing `listed` (a user name) or
/// JupyterHub's error page with status 403 (`<h1>403 : Forbidden</h1>`).
async fn admin_page(
    client: &Client,
    options: &ScenarioOptions,
    listed: &str,
) -> Result<AdminPage, StepError> {
    open(client, &options.url("/hub/admin")).await?;
    until(page(options), "the admin page or a 403 page", || async {
        if client
            .find(Locator::XPath(
                "//h1[starts-with(normalize-space(.), '403')]",
            ))
            .await
            .is_ok()
        {
            return Poll::Ready(AdminPage::Forbidden);
        }
        let app = visible(client, "#react-admin-hook").await.is_some();
        if app && shows_user(client, listed).await {
            return Poll::Ready(AdminPage::Listed);
        }
        Poll::Pending(format!(
            "{} ({})",
            current_url(client).await,
            if app {
                format!("the admin app without `{listed}` listed")
            } else {
                "no admin app".to_owned()
            }
        ))
    })
    .await
}

/// The admin opens `/hub/admin` and sees `listed` in the user list. Errors: a 403 page (the
/// admin was not made an admin), or neither page in time.
pub async fn admin_sees_users(
    client: &Client,
    options: &ScenarioOptions,
    admin: &str,
    listed: &str,
) -> Result<(), StepError> {
    match admin_page(client, options, listed).await? {
        AdminPage::Listed => Ok(()),
        AdminPage::Forbidden => Err(StepError::Unexpected(format!(
            "the admin `{admin}` was refused /hub/admin (403): the identity provider's admin group did not make them a JupyterHub admin"
        ))),
    }
}

/// A user who is not an admin opens `/hub/admin` and gets JupyterHub's 403 page. Errors: the
/// admin app is shown to them (listing `user` themself), or neither page in time.
pub async fn refused_admin_page(
    client: &Client,
    options: &ScenarioOptions,
    user: &str,
) -> Result<(), StepError> {
    match admin_page(client, options, user).await? {
        AdminPage::Forbidden => Ok(()),
        AdminPage::Listed => Err(StepError::Unexpected(format!(
            "`{user}` was shown the admin page and the user list: a user outside the admin group has admin rights"
        ))),
    }
}

/// Submits a wrong password and checks that the form shows an error and the browser is still
/// logged out (`/hub/home` still redirects to the login page). Returns the error text.
pub async fn refuse_wrong_password(
    client: &Client,
    options: &ScenarioOptions,
) -> Result<String, StepError> {
    let form = open_login(client, options).await?;
    let wrong = format!("{}-not-the-password", options.password.expose());
    match submit_login(client, options, form, &wrong).await {
        Ok(()) => Err("a wrong password logged in".into()),
        Err(StepError::LoginRefused(reason)) => {
            redirects_to_login(client, options, "/hub/home").await?;
            Ok(reason)
        }
        Err(other) => Err(StepError::WrongPasswordNotRefused(Box::new(other))),
    }
}

/// Opens `<base><path>` and waits until the browser is on a login page (the hub's, with a
/// `next` back to `path`, or Keycloak's).
pub async fn redirects_to_login(
    client: &Client,
    options: &ScenarioOptions,
    path: &str,
) -> Result<(), StepError> {
    let url = options.url(path);
    open(client, &url).await?;
    let login = format!("{}/hub/login", prefix(options));
    until(
        page(options),
        &format!("redirect from {path} to the login page"),
        || async {
            let now = current_url(client).await;
            let on_hub_login = path_of(&now) == login;
            let on_keycloak = visible(client, KC_SUBMIT).await.is_some();
            if on_hub_login || on_keycloak {
                Poll::Ready(())
            } else {
                Poll::Pending(now)
            }
        },
    )
    .await
}

/// Clicks the navbar's Logout link on `/hub/home` and waits until the browser has left the
/// logged-in pages (the hub's logout or login page).
pub async fn log_out(client: &Client, options: &ScenarioOptions) -> Result<(), StepError> {
    let home = options.url("/hub/home");
    open(client, &home).await?;
    click(client, "#logout", page(options), "click Logout").await?;
    let done = [
        format!("{}/hub/login", prefix(options)),
        format!("{}/hub/logout", prefix(options)),
    ];
    until(page(options), "logout page", || async {
        let now = current_url(client).await;
        if done.contains(&path_of(&now)) || visible(client, KC_SUBMIT).await.is_some() {
            Poll::Ready(())
        } else {
            Poll::Pending(now)
        }
    })
    .await
}

/// Opens the spawn page and submits it, choosing `options.profile` when the hub offers
/// profiles (KubeSpawner's `input[name=profile]` radios). A server that already runs
/// redirects straight to it, which counts as started. Returns the profile chosen, if any.
pub async fn start_server(
    client: &Client,
    options: &ScenarioOptions,
) -> Result<Option<String>, StepError> {
    let url = options.url("/hub/spawn");
    open(client, &url).await?;
    let user_prefix = format!("{}/user/{}/", prefix(options), options.user);
    let form = until(page(options), "spawn form or a running server", || async {
        if visible(client, "#spawn_form").await.is_some() {
            return Poll::Ready(true);
        }
        let now = current_url(client).await;
        let path = path_of(&now);
        if path.starts_with(&user_prefix) || path.contains("/hub/spawn-pending/") {
            return Poll::Ready(false);
        }
        Poll::Pending(now)
    })
    .await?;
    if !form {
        return Ok(None);
    }
    let radios = client
        .find_all(Locator::Css("#spawn_form input[name='profile']"))
        .await
        .map_err(webdriver("list the profiles"))?;
    let mut chosen = None;
    if !radios.is_empty() {
        let mut offered = Vec::new();
        for radio in &radios {
            let value = radio.attr("value").await.ok().flatten().unwrap_or_default();
            let checked = radio.is_selected().await.unwrap_or(false);
            let wanted = match &options.profile {
                Some(profile) => *profile == value,
                None => checked,
            };
            if wanted && chosen.is_none() {
                radio
                    .click()
                    .await
                    .map_err(webdriver(&format!("choose profile `{value}`")))?;
                chosen = Some(value.clone());
            }
            offered.push(value);
        }
        if chosen.is_none() {
            if let Some(profile) = &options.profile {
                return Err(StepError::Unexpected(format!(
                    "the hub does not offer profile `{profile}`; it offers: {}",
                    offered.join(", ")
                )));
            }
        }
    }
    click(
        client,
        "#spawn_form [type='submit']",
        page(options),
        "submit the spawn form",
    )
    .await?;
    Ok(chosen)
}

/// Waits until JupyterLab's main area is shown under `/user/<name>/lab`, reporting the spawn
/// progress message while waiting, and failing at once when the hub reports the spawn failed.
pub async fn await_lab(client: &Client, options: &ScenarioOptions) -> Result<(), StepError> {
    let lab = format!("{}/user/{}/lab", prefix(options), options.user);
    let timeout = Duration::from_secs(options.timeouts.spawn_seconds);
    until(timeout, "JupyterLab", || async {
        let now = current_url(client).await;
        if path_of(&now).starts_with(&lab) && visible(client, "#jp-main-dock-panel").await.is_some()
        {
            return Poll::Ready(());
        }
        let progress = match visible(client, "#progress-message").await {
            Some(message) => message.text().await.unwrap_or_default(),
            None => String::new(),
        };
        if progress.to_lowercase().contains("spawn failed") {
            return Poll::Fail(format!("the hub reports: {}", progress.trim()).into());
        }
        Poll::Pending(format!("{now} {}", progress.trim()).trim().to_owned())
    })
    .await
}

/// Creates a notebook from the Launcher and returns its file name (the current tab's label).
pub async fn new_notebook(client: &Client, options: &ScenarioOptions) -> Result<String, StepError> {
    let timeout = page(options);
    click(
        client,
        ".jp-LauncherCard[data-category='Notebook']",
        timeout,
        "click the Notebook launcher card",
    )
    .await?;
    element(client, ".jp-NotebookPanel .jp-Cell .cm-content", timeout).await?;
    until(timeout, "notebook tab", || async {
        match visible(
            client,
            "#jp-main-dock-panel .lm-TabBar-tab.lm-mod-current .lm-TabBar-tabLabel",
        )
        .await
        {
            Some(label) => match label.text().await {
                Ok(text) if text.ends_with(".ipynb") => Poll::Ready(text),
                Ok(text) => Poll::Pending(format!("current tab `{text}`")),
                Err(error) => Poll::Pending(error.to_string()),
            },
            None => Poll::Pending("no current tab".into()),
        }
    })
    .await
}

/// Waits until the notebook's kernel is connected and idle (the toolbar's execution
/// indicator), so a cell run is not dropped while the session is still starting.
pub async fn await_kernel(client: &Client, options: &ScenarioOptions) -> Result<(), StepError> {
    let timeout = Duration::from_secs(options.timeouts.kernel_seconds);
    until(timeout, "idle kernel", || async {
        match visible(
            client,
            ".jp-NotebookPanel-toolbar .jp-Notebook-ExecutionIndicator",
        )
        .await
        {
            Some(indicator) => match indicator.attr("data-status").await.ok().flatten() {
                Some(status) if status == "idle" => Poll::Ready(()),
                status => Poll::Pending(format!("kernel status `{}`", status.unwrap_or_default())),
            },
            None => Poll::Pending("no kernel status in the notebook toolbar".into()),
        }
    })
    .await
}

/// Types `source` into the notebook's first cell, checks the editor holds it, runs it with
/// the notebook toolbar's Run button (`notebook:run-cell-and-select-next`), and waits until
/// the cell's input prompt shows it was sent to the kernel (`[*]:` or `[1]:`), pressing Run
/// again every 2 s while the prompt still reads `[ ]:`.
pub async fn run_first_cell(
    client: &Client,
    options: &ScenarioOptions,
    source: &str,
) -> Result<(), StepError> {
    let timeout = page(options);
    element(client, FIRST_EDITOR, timeout).await?;
    // The editor exists before it is laid out, and JupyterLab may render the cell again once
    // the notebook has loaded (the old element goes stale): every use finds it afresh, and a
    // click succeeds once it is interactable.
    until(timeout, "an interactable cell editor", || async {
        let editor = match first_editor(client).await {
            Ok(editor) => editor,
            Err(error) => return Poll::Pending(host::error_chain(&error)),
        };
        match editor.click().await {
            Ok(()) => Poll::Ready(()),
            Err(error) => Poll::Pending(error.to_string()),
        }
    })
    .await?;
    first_editor(client)
        .await?
        .send_keys(source)
        .await
        .map_err(webdriver("type into the cell"))?;
    until(timeout, &format!("`{source}` in the cell"), || async {
        let editor = match first_editor(client).await {
            Ok(editor) => editor,
            Err(error) => return Poll::Pending(host::error_chain(&error)),
        };
        match editor.text().await {
            Ok(text) if text.trim() == source => Poll::Ready(()),
            Ok(text) => Poll::Pending(format!("the cell holds `{text}`")),
            Err(error) => Poll::Pending(error.to_string()),
        }
    })
    .await?;
    // The kernel indicator can read `idle` before the session is connected, and a run
    // requested then is dropped (the prompt stays `[ ]:`). So the condition is the prompt:
    // while it still reads `[ ]:`, select the first cell again and press Run again, every 2 s.
    let attempt = std::cell::Cell::new(None::<std::time::Instant>);
    until(timeout, "the cell sent to the kernel", || async {
        let prompt = match client
            .find(Locator::Css(
                ".jp-NotebookPanel .jp-CodeCell .jp-InputPrompt",
            ))
            .await
        {
            Ok(prompt) => prompt.text().await.unwrap_or_default(),
            Err(error) => return Poll::Pending(error.to_string()),
        };
        if prompt.contains('*') || prompt.chars().any(|c| c.is_ascii_digit()) {
            return Poll::Ready(());
        }
        if attempt
            .get()
            .is_none_or(|at| at.elapsed() >= Duration::from_secs(2))
        {
            attempt.set(Some(std::time::Instant::now()));
            if let Err(error) = press_run(client).await {
                return Poll::Pending(host::error_chain(&error));
            }
        }
        Poll::Pending(format!("input prompt `{}`", prompt.trim()))
    })
    .await
}

/// The first code cell's editor (CodeMirror 6's content element).
const FIRST_EDITOR: &str = ".jp-NotebookPanel .jp-CodeCell .cm-content";

/// Finds the first cell's editor now (no waiting). Errors: the WebDriver error.
async fn first_editor(client: &Client) -> Result<fantoccini::elements::Element, StepError> {
    client
        .find(Locator::Css(FIRST_EDITOR))
        .await
        .map_err(webdriver("find the first cell's editor"))
}

/// Selects the first cell and clicks the notebook toolbar's Run button
/// (`notebook:run-cell-and-select-next`).
async fn press_run(client: &Client) -> Result<(), StepError> {
    first_editor(client)
        .await?
        .click()
        .await
        .map_err(webdriver("select the cell"))?;
    client
        .find(Locator::Css(
            ".jp-NotebookPanel-toolbar [data-command='notebook:run-cell-and-select-next']",
        ))
        .await
        .map_err(webdriver("find the notebook's Run button"))?
        .click()
        .await
        .map_err(webdriver("click the notebook's Run button"))
}

/// Waits for the first cell's output area and returns its text (trimmed); an error output
/// (a traceback) fails with its text.
pub async fn first_output(client: &Client, options: &ScenarioOptions) -> Result<String, StepError> {
    let timeout = Duration::from_secs(options.timeouts.kernel_seconds);
    until(timeout, "cell output", || async {
        let Ok(cells) = client
            .find_all(Locator::Css(".jp-NotebookPanel .jp-CodeCell"))
            .await
        else {
            return Poll::Pending("no code cell".into());
        };
        let Some(cell) = cells.first() else {
            return Poll::Pending("no code cell".into());
        };
        if let Ok(error) = cell
            .find(Locator::Css(
                ".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']",
            ))
            .await
        {
            return Poll::Fail(StepError::Unexpected(format!(
                "the cell failed: {}",
                error.text().await.unwrap_or_default()
            )));
        }
        match cell.find(Locator::Css(".jp-OutputArea-output")).await {
            Ok(output) => match output.text().await {
                Ok(text) if !text.trim().is_empty() => Poll::Ready(text.trim().to_owned()),
                _ => Poll::Pending("an empty output area".into()),
            },
            Err(_) => {
                let status = match visible(client, ".jp-Notebook-ExecutionIndicator").await {
                    Some(indicator) => indicator
                        .attr("data-status")
                        .await
                        .ok()
                        .flatten()
                        .unwrap_or_default(),
                    None => String::new(),
                };
                Poll::Pending(format!("no output yet (kernel status `{status}`)"))
            }
        }
    })
    .await
}

/// Saves the current notebook with the notebook toolbar's Save button (JupyterLab's
/// `docmanager:save` command), answering JupyterLab 4's "Rename file" dialog on a first save
/// with `name`, and waits until the file on the server, read through the Jupyter Server
/// contents API (`GET /user/<name>/api/contents/<file>`) from the page, holds `source` in its
/// first cell and `expected` in that cell's output. Returns the saved file's name.
pub async fn save_and_verify(
    client: &Client,
    options: &ScenarioOptions,
    untitled: &str,
    name: &str,
    source: &str,
    expected: &str,
) -> Result<String, StepError> {
    click(
        client,
        ".jp-NotebookPanel-toolbar [data-jp-item-name='save'] [data-command='docmanager:save']",
        page(options),
        "click the notebook's Save button",
    )
    .await?;
    let file = std::cell::RefCell::new(untitled.to_owned());
    until(page(options), "the saved notebook with the cell and its output", || async {
        if let Some(input) = visible(client, ".jp-Dialog input:not([type='checkbox'])").await {
            // JupyterLab's renameUntitledFileOnSave (on by default) asks for a name first.
            let renamed = async {
                input.clear().await?;
                input.send_keys(name).await?;
                client
                    .find(Locator::Css(".jp-Dialog .jp-mod-accept"))
                    .await?
                    .click()
                    .await
            };
            return match renamed.await {
                Ok(()) => {
                    *file.borrow_mut() = name.to_owned();
                    Poll::Pending(format!("renamed to {name}"))
                }
                Err(error) => Poll::Fail(webdriver("answer the Rename file dialog")(error)),
            };
        }
        let current = file.borrow().clone();
        let url = options.url(&format!("/user/{}/api/contents/{}?content=1", options.user, encode(&current)));
        // Cookie-authenticated API requests need the `_xsrf` cookie echoed in `X-XSRFToken`
        // (Jupyter Server and JupyterHub >= 4.1 check it on GET too), as JupyterLab does.
        let script = "const [url, done] = arguments;\
            const xsrf = (document.cookie.match('(?:^|; )_xsrf=([^;]*)') || [])[1] || '';\
            fetch(url, {credentials: 'same-origin', headers: {'X-XSRFToken': decodeURIComponent(xsrf)}})\
            .then(r => r.ok ? r.json() : {error: 'HTTP ' + r.status}).then(done, e => done({error: String(e)}));";
        match client.execute_async(script, vec![json!(url)]).await {
            Ok(saved) => match saved_cell(&saved, source, expected) {
                Poll::Ready(()) => Poll::Ready(current),
                Poll::Pending(seen) => Poll::Pending(format!("{current}: {seen}")),
                Poll::Fail(message) => Poll::Fail(message),
            },
            Err(error) => Poll::Pending(error.to_string()),
        }
    })
    .await
}

/// Judges a contents-API notebook model (`{"content": {"cells": [...]}}`).
pub fn saved_cell(model: &Value, source: &str, expected: &str) -> Poll<()> {
    if let Some(error) = model["error"].as_str() {
        return Poll::Pending(format!("contents API: {error}"));
    }
    let cell = &model["content"]["cells"][0];
    let saved_source = text_of(&cell["source"]);
    let output = text_of(&cell["outputs"][0]["data"]["text/plain"]);
    if saved_source.trim() == source && output.trim() == expected {
        Poll::Ready(())
    } else {
        Poll::Pending(format!(
            "first cell `{saved_source}` with output `{output}`"
        ))
    }
}

/// nbformat stores multiline strings as a string or a list of lines.
fn text_of(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        Value::Array(lines) => lines.iter().filter_map(Value::as_str).collect(),
        _ => String::new(),
    }
}

/// Clicks "Stop My Server" on `/hub/home` and waits until the hub says it stopped: the stop
/// button is gone and the start button reads "Start My Server", also after a reload.
pub async fn stop_server(client: &Client, options: &ScenarioOptions) -> Result<(), StepError> {
    let home = options.url("/hub/home");
    open(client, &home).await?;
    click(client, "#stop", page(options), "click Stop My Server").await?;
    let timeout = Duration::from_secs(options.timeouts.stop_seconds);
    // The stop request can fail in the browser while the hub carries it out: Chromium aborts
    // requests in flight with ERR_NETWORK_CHANGED when a pod's network interface comes or
    // goes on the machine it runs on (the user's server pod being removed is one). As a
    // person would after the error dialog, reload the home page after a while, and click
    // again if the server still runs there.
    let clicked = std::cell::Cell::new(std::time::Instant::now());
    until(timeout, "stopped server", || async {
        let shown = stopped_on_home(client).await;
        if matches!(shown, Poll::Pending(_)) && clicked.get().elapsed() > RESTOP_AFTER {
            let _ = client.goto(&home).await;
            if let Some(stop) = visible(client, "#stop").await {
                let _ = stop.click().await;
            }
            clicked.set(std::time::Instant::now());
        }
        shown
    })
    .await
}

/// How long [`stop_server`] waits for the home page to show the server stopped before it
/// reloads the page (and clicks Stop My Server again if it is still there).
const RESTOP_AFTER: Duration = Duration::from_secs(15);

/// Reloads `/hub/home` until it shows no running server.
pub async fn confirm_stopped(client: &Client, options: &ScenarioOptions) -> Result<(), StepError> {
    let home = options.url("/hub/home");
    until(
        page(options),
        "home page without a running server",
        || async {
            if let Err(error) = client.goto(&home).await {
                return Poll::Pending(error.to_string());
            }
            stopped_on_home(client).await
        },
    )
    .await
}

async fn stopped_on_home(client: &Client) -> Poll<()> {
    if visible(client, "#stop").await.is_some() {
        return Poll::Pending("the Stop My Server button is shown".into());
    }
    match visible(client, "#start").await {
        Some(start) => {
            let text = start.text().await.unwrap_or_default();
            if text.contains("Start") {
                Poll::Ready(())
            } else {
                Poll::Pending(format!("the start button reads `{}`", text.trim()))
            }
        }
        None => Poll::Pending("no start button".into()),
    }
}

/// Requests a token on `/hub/token` (expiring in one hour, so trial tokens do not pile up)
/// and returns it from the page.
pub async fn request_token(
    client: &Client,
    options: &ScenarioOptions,
    note: &str,
) -> Result<String, StepError> {
    let url = options.url("/hub/token");
    open(client, &url).await?;
    let timeout = page(options);
    type_into(client, "#token-note", note, timeout).await?;
    if let Ok(select) = client.find(Locator::Css("#token-expiration-seconds")).await {
        select
            .select_by_value("3600")
            .await
            .map_err(webdriver("choose the token's expiry"))?;
    }
    click(
        client,
        "#request-token-form [type='submit']",
        timeout,
        "click Request new API token",
    )
    .await?;
    until(timeout, "the new token on the page", || async {
        match visible(client, "#token-result").await {
            Some(result) => match result.text().await {
                Ok(token) if !token.trim().is_empty() => Poll::Ready(token.trim().to_owned()),
                _ => Poll::Pending("an empty token".into()),
            },
            None => Poll::Pending("the token area is hidden".into()),
        }
    })
    .await
}

/// `GET <base>/hub/api/user` with `Authorization: token <token>` (JupyterHub REST API).
/// Returns the status and the JSON body (`Null` when the body is not JSON).
pub async fn api_user(options: &ScenarioOptions, token: &str) -> Result<(u16, Value), StepError> {
    let url = options.url("/hub/api/user");
    let response = options
        .http
        .get(&url)
        .header("Authorization", format!("token {token}"))
        .send()
        .await
        .map_err(|source| StepError::Http {
            method: "GET",
            url: url.clone(),
            source,
        })?;
    let status = response.status().as_u16();
    let body = match response.bytes().await {
        Ok(bytes) => serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        Err(_) => Value::Null,
    };
    Ok((status, body))
}

async fn type_into(
    client: &Client,
    selector: &str,
    text: &str,
    timeout: Duration,
) -> Result<(), StepError> {
    let field = element(client, selector, timeout).await?;
    field
        .clear()
        .await
        .map_err(webdriver(&format!("clear `{selector}`")))?;
    field
        .send_keys(text)
        .await
        .map_err(webdriver(&format!("type into `{selector}`")))
}

/// Percent-encodes a URL component (RFC 3986 unreserved characters and `/` pass).
fn encode(text: &str) -> String {
    let mut out = String::new();
    for byte in text.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b'/' => {
                out.push(byte as char)
            }
            other => out.push_str(&format!("%{other:02X}")),
        }
    }
    out
}

/// An XPath 1.0 string literal for any text (XPath has no escapes: `concat` splits quotes).
fn xpath_literal(text: &str) -> String {
    if !text.contains('\'') {
        return format!("'{text}'");
    }
    if !text.contains('"') {
        return format!("\"{text}\"");
    }
    let parts: Vec<String> = text.split('\'').map(|part| format!("'{part}'")).collect();
    format!("concat({})", parts.join(", \"'\", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xpath_literals_quote_any_text() {
        assert_eq!(xpath_literal("alice"), "'alice'");
        assert_eq!(xpath_literal("o'neil"), "\"o'neil\"");
        assert_eq!(xpath_literal("a'b\"c"), "concat('a', \"'\", 'b\"c')");
    }

    #[test]
    fn components_are_percent_encoded() {
        assert_eq!(encode("/hub/home"), "/hub/home");
        assert_eq!(encode("Untitled 1.ipynb"), "Untitled%201.ipynb");
        assert_eq!(encode("a?b&c"), "a%3Fb%26c");
    }

    #[test]
    fn a_saved_notebook_is_judged_on_source_and_output() {
        let model = json!({"content": {"cells": [{"source": ["1 + 5"], "outputs": [{"data": {"text/plain": "6"}}]}]}});
        assert!(matches!(saved_cell(&model, "1 + 5", "6"), Poll::Ready(())));
        match saved_cell(&model, "1 + 5", "7") {
            Poll::Pending(seen) => assert_eq!(seen, "first cell `1 + 5` with output `6`"),
            _ => panic!("output 6 is not 7"),
        }
        assert!(matches!(
            saved_cell(&json!({"error": "HTTP 404"}), "1 + 5", "6"),
            Poll::Pending(_)
        ));
    }
}
