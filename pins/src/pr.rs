//! `pr`: deliver a bump as one commit on a branch and a pull request, through octocrab and
//! GitHub's Git data API (<https://docs.github.com/en/rest/git>):
//!
//! 1. `GET /repos/{o}/{r}` for the default branch (unless a base is given);
//! 2. `GET /repos/{o}/{r}/git/ref/heads/{base}` and `GET …/git/commits/{sha}` for the base
//!    commit and its tree;
//! 3. `POST …/git/blobs` per changed file, `POST …/git/trees` (on the base tree),
//!    `POST …/git/commits` (one parent: the base);
//! 4. `POST …/git/refs` for a new branch, or `PATCH …/git/refs/heads/{branch}` (forced) when
//!    it exists;
//! 5. `GET …/pulls?state=open&head={o}:{branch}`: an open pull request from the branch is
//!    updated (`PATCH …/pulls/{n}`) instead of opening a second one (`POST …/pulls`);
//! 6. `POST …/issues/{n}/labels`.

use serde::Serialize;
use serde_json::{json, Value};

use crate::error::{Error, Result};

/// The environment variable holding the token for `pr`.
pub const TOKEN_ENV: &str = "GITHUB_TOKEN";

/// Where and how to open the pull request.
#[derive(Debug, Clone)]
pub struct PrTarget {
    /// The REST API base, e.g. `https://api.github.com`.
    pub api: String,
    /// `owner/name`.
    pub repo: String,
    /// The base branch; the repository's default branch when `None`.
    pub base: Option<String>,
    /// The branch to push, e.g. `seatrial/pins`.
    pub branch: String,
    /// Labels to put on the pull request.
    pub labels: Vec<String>,
    /// The pull request's title (also the commit message's first line).
    pub title: String,
    /// Its body (the change table).
    pub body: String,
}

/// A file to commit: its path in the repository (`/`-separated) and its new text.
#[derive(Debug, Clone, Serialize)]
pub struct CommitFile {
    /// The path from the repository root.
    pub path: String,
    /// The new contents.
    pub text: String,
}

/// What `pr` did.
#[derive(Debug, Clone, Serialize)]
pub struct PrOutcome {
    /// The pull request's number.
    pub number: u64,
    /// Its page.
    pub url: String,
    /// Whether it was opened now (false: an open one was updated).
    pub created: bool,
    /// The commit pushed.
    pub commit: String,
    /// The branch.
    pub branch: String,
}

fn github_error(step: &str, error: octocrab::Error) -> Error {
    let detail = match &error {
        octocrab::Error::GitHub { source, .. } => {
            format!("HTTP {}: {}", source.status_code.as_u16(), source.message)
        }
        other => other.to_string(),
    };
    Error::GitHub(format!("{step}: {detail}"))
}

fn is_not_found(error: &octocrab::Error) -> bool {
    matches!(error, octocrab::Error::GitHub { source, .. } if source.status_code.as_u16() == 404)
}

fn text(value: &Value, pointer: &str, step: &str) -> Result<String> {
    value
        .pointer(pointer)
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| Error::GitHub(format!("{step}: the response has no `{pointer}`")))
}

/// Pushes `files` as one commit to `target.branch` and opens or updates the pull request.
///
/// Errors: [`Error::GitHub`] naming the step and GitHub's status and message.
pub async fn open_pull_request(
    token: &str,
    target: &PrTarget,
    files: &[CommitFile],
) -> Result<PrOutcome> {
    let github = octocrab::Octocrab::builder()
        .base_uri(target.api.as_str())
        .map_err(|error| github_error("the API URL", error))?
        .personal_token(token.to_owned())
        .build()
        .map_err(|error| github_error("building the client", error))?;
    let repo = format!("/repos/{}", target.repo);
    let owner = target.repo.split('/').next().unwrap_or_default();

    let base = match &target.base {
        Some(base) => base.clone(),
        None => {
            let repository: Value = github
                .get(&repo, None::<&()>)
                .await
                .map_err(|error| github_error("reading the repository", error))?;
            text(&repository, "/default_branch", "reading the repository")?
        }
    };
    let base_ref: Value = github
        .get(format!("{repo}/git/ref/heads/{base}"), None::<&()>)
        .await
        .map_err(|error| github_error(&format!("reading branch {base}"), error))?;
    let base_sha = text(&base_ref, "/object/sha", "reading the base branch")?;
    let base_commit: Value = github
        .get(format!("{repo}/git/commits/{base_sha}"), None::<&()>)
        .await
        .map_err(|error| github_error("reading the base commit", error))?;
    let base_tree = text(&base_commit, "/tree/sha", "reading the base commit")?;

    let mut tree = Vec::new();
    for file in files {
        let blob: Value = github
            .post(
                format!("{repo}/git/blobs"),
                Some(&json!({"content": file.text, "encoding": "utf-8"})),
            )
            .await
            .map_err(|error| github_error(&format!("creating the blob of {}", file.path), error))?;
        tree.push(json!({
            "path": file.path,
            "mode": "100644",
            "type": "blob",
            "sha": text(&blob, "/sha", "creating a blob")?,
        }));
    }
    let new_tree: Value = github
        .post(
            format!("{repo}/git/trees"),
            Some(&json!({"base_tree": base_tree, "tree": tree})),
        )
        .await
        .map_err(|error| github_error("creating the tree", error))?;
    let new_tree = text(&new_tree, "/sha", "creating the tree")?;
    let message = format!("{}\n\n{}", target.title, target.body);
    let commit: Value = github
        .post(
            format!("{repo}/git/commits"),
            Some(&json!({"message": message, "tree": new_tree, "parents": [base_sha]})),
        )
        .await
        .map_err(|error| github_error("creating the commit", error))?;
    let commit = text(&commit, "/sha", "creating the commit")?;

    let branch = &target.branch;
    match github
        .get::<Value, _, ()>(format!("{repo}/git/ref/heads/{branch}"), None)
        .await
    {
        Ok(_) => {
            let _: Value = github
                .patch(
                    format!("{repo}/git/refs/heads/{branch}"),
                    Some(&json!({"sha": commit, "force": true})),
                )
                .await
                .map_err(|error| github_error(&format!("moving branch {branch}"), error))?;
        }
        Err(error) if is_not_found(&error) => {
            let _: Value = github
                .post(
                    format!("{repo}/git/refs"),
                    Some(&json!({"ref": format!("refs/heads/{branch}"), "sha": commit})),
                )
                .await
                .map_err(|error| github_error(&format!("creating branch {branch}"), error))?;
        }
        Err(error) => return Err(github_error(&format!("reading branch {branch}"), error)),
    }

    let open: Value = github
        .get(
            format!("{repo}/pulls"),
            Some(&json!({"state": "open", "head": format!("{owner}:{branch}")})),
        )
        .await
        .map_err(|error| github_error("listing open pull requests", error))?;
    let existing = open.as_array().and_then(|pulls| pulls.first()).cloned();
    let (pull, created): (Value, bool) = match existing {
        Some(pull) => {
            let number = pull
                .get("number")
                .and_then(Value::as_u64)
                .unwrap_or_default();
            let updated = github
                .patch(
                    format!("{repo}/pulls/{number}"),
                    Some(&json!({"title": target.title, "body": target.body})),
                )
                .await
                .map_err(|error| {
                    github_error(&format!("updating pull request #{number}"), error)
                })?;
            (updated, false)
        }
        None => {
            let created = github
                .post(
                    format!("{repo}/pulls"),
                    Some(&json!({"title": target.title, "head": branch, "base": base, "body": target.body})),
                )
                .await
                .map_err(|error| github_error("opening the pull request", error))?;
            (created, true)
        }
    };
    let number = pull
        .get("number")
        .and_then(Value::as_u64)
        .ok_or_else(|| Error::GitHub("the pull request response has no `number`".into()))?;
    if !target.labels.is_empty() {
        let _: Value = github
            .post(
                format!("{repo}/issues/{number}/labels"),
                Some(&json!({"labels": target.labels})),
            )
            .await
            .map_err(|error| github_error(&format!("labelling pull request #{number}"), error))?;
    }
    Ok(PrOutcome {
        number,
        url: text(&pull, "/html_url", "the pull request").unwrap_or_default(),
        created,
        commit,
        branch: branch.clone(),
    })
}
