//! `cargo xtask pins …`: the pin set's command line (the logic is in the `pins` crate).

use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::{Args, Subcommand};
use pins::fetch::{Network, NetworkOptions};
use pins::model::{PinSet, Selection};
use pins::pr::{CommitFile, PrTarget, TOKEN_ENV};
use pins::update::{new_files, plan_bump, plan_lock, plan_pr, today, write_files, Plan};

use crate::exit;

/// Arguments shared by every `pins` subcommand.
#[derive(Args)]
pub struct Pins {
    /// The pin set file [default: pins/pins.toml in the workspace].
    #[arg(long, value_name = "FILE", global = true)]
    pins: Option<PathBuf>,
    /// Print JSON instead of a table.
    #[arg(long, global = true)]
    json: bool,
    /// Only pins of this group.
    #[arg(long, value_name = "GROUP", global = true)]
    group: Option<String>,
    /// Only this pin (repeatable): `images.traefik` or `traefik`.
    #[arg(long, value_name = "NAME", global = true)]
    only: Vec<String>,
    /// Requests in flight at most.
    #[arg(long, value_name = "N", default_value_t = 16, global = true)]
    concurrency: usize,
    /// Limit per request attempt, in seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 30, global = true)]
    timeout: u64,
    #[command(subcommand)]
    command: PinsCommand,
}

#[derive(Subcommand)]
enum PinsCommand {
    /// Every pin with its source, version, digest and group. Never uses the network.
    List,
    /// Prove every pin still resolves: chart versions in their index with tarball digests
    /// matching, image manifests present (anonymous bearer-token flow), GitHub releases with
    /// their linux/amd64 asset, bundles with their sha256; versions inside their policy.
    /// Broken pins are tried at relocated sources (e.g. bitnami/* → bitnamilegacy/*).
    /// Exit 1 naming every broken, moved or out-of-policy pin with its URL and HTTP status.
    Check {
        /// Validate the file and the policies only; no network.
        #[arg(long)]
        offline: bool,
    },
    /// Per pin: the current version, the newest its policy allows and the newest overall,
    /// with release ages in days.
    Outdated,
    /// Fill in missing digests (chart tarball sha256, image manifest digest, asset digest).
    Lock {
        /// Print what would change; write nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Move pins to the newest version their policy allows, editing the pin set in place
    /// (comments and order kept) and adding a CHANGELOG section with release links.
    Bump {
        /// Print what would change; write nothing.
        #[arg(long)]
        dry_run: bool,
        /// The changelog to add to [default: CHANGELOG.md beside the pin set].
        #[arg(long, value_name = "FILE")]
        changelog: Option<PathBuf>,
    },
    /// Bump, lock every pin that has no digest, then push one commit to a branch and open a
    /// pull request (or update the open one from that branch), labelled. Needs GITHUB_TOKEN (contents: write, pull-requests:
    /// write) unless --dry-run; the API is GITHUB_API_URL or https://api.github.com.
    Pr(PrArgs),
}

/// The arguments of `pins pr`.
#[derive(Args)]
struct PrArgs {
    /// Print the pull request that would be opened; needs no token.
    #[arg(long)]
    dry_run: bool,
    /// The repository, `owner/name`.
    #[arg(long, value_name = "OWNER/NAME", env = "GITHUB_REPOSITORY")]
    repo: Option<String>,
    /// The base branch [default: the repository's default branch].
    #[arg(long, value_name = "BRANCH")]
    base: Option<String>,
    /// The branch to push [default: seatrial/pins, or seatrial/pins-<group>].
    #[arg(long, value_name = "BRANCH")]
    branch: Option<String>,
    /// A label for the pull request (repeatable) [default: dependencies, pins].
    #[arg(long, value_name = "LABEL")]
    label: Vec<String>,
    /// The changelog to add to [default: CHANGELOG.md beside the pin set].
    #[arg(long, value_name = "FILE")]
    changelog: Option<PathBuf>,
    /// Open the pull request without an upgrade trial (the body says that none ran). By
    /// default `cargo xtask upgrade` deploys the pin set as it is, upgrades it in place to the
    /// bumped pins and verifies the seeded data first; its result goes into the body, and a
    /// failed trial fails the command after the pull request is opened (docs/upgrade.md).
    #[arg(long)]
    no_trial: bool,
    /// Where the upgrade trial deploys [default: the embedded config's provider, local].
    #[arg(long, value_enum, value_name = "PROVIDER")]
    trial_provider: Option<crate::integration::ProviderArg>,
}

fn fail(error: &pins::Error) -> u8 {
    exit::report(error)
}

fn print_json(value: &impl serde::Serialize) {
    println!(
        "{}",
        serde_json::to_string_pretty(value).expect("plain data serializes")
    );
}

impl Pins {
    pub async fn run(self) -> u8 {
        let path = self.pins.clone().unwrap_or_else(pins::default_pins_file);
        let set = match pins::load::load(&path) {
            Ok(set) => set,
            Err(error) => return fail(&error.into()),
        };
        let selection = Selection {
            group: self.group.clone(),
            only: self.only.clone(),
        };
        let selected = match set.select(&selection) {
            Ok(selected) => selected,
            Err(error) => return fail(&error.into()),
        };
        let network = match self.network() {
            Ok(network) => network,
            Err(code) => return code,
        };
        let json = self.json;
        match self.command {
            PinsCommand::List => {
                if json {
                    print_json(&pins::report::list_json(&selected));
                } else {
                    print!("{}", pins::report::list(&selected));
                }
                exit::SUCCESS
            }
            PinsCommand::Check { .. } => check(&set, &selected, network.as_ref(), json).await,
            PinsCommand::Outdated => outdated(&network.expect("online"), &selected, json).await,
            PinsCommand::Lock { dry_run } => {
                let plan = plan_lock(&network.expect("online"), &selected).await;
                for (pin, digest) in &plan.locked {
                    println!("{pin}: digest = {digest}");
                }
                finish(&set, &plan, None, dry_run, json)
            }
            PinsCommand::Bump { dry_run, changelog } => {
                let plan = plan_bump(
                    &network.expect("online"),
                    &selected,
                    time::OffsetDateTime::now_utc(),
                )
                .await;
                if !json {
                    print_changes(&plan);
                }
                let changelog = changelog.unwrap_or_else(|| changelog_beside(&set.path));
                finish(&set, &plan, Some(&changelog), dry_run, json)
            }
            PinsCommand::Pr(args) => {
                let network = network.expect("online");
                open_pr(args, &set, &selected, &network, self.group.as_deref(), json).await
            }
        }
    }

    /// The shared HTTP client, unless the command works offline (`list`, `check --offline`).
    ///
    /// Errors: the exit code when the TLS backend or trust store cannot load.
    fn network(&self) -> Result<Option<Network>, u8> {
        let offline = matches!(
            self.command,
            PinsCommand::List | PinsCommand::Check { offline: true }
        );
        if offline {
            return Ok(None);
        }
        let options = NetworkOptions {
            concurrency: self.concurrency,
            timeout: Duration::from_secs(self.timeout),
            github_api: std::env::var("GITHUB_API_URL")
                .unwrap_or_else(|_| NetworkOptions::default().github_api),
            github_token: std::env::var(TOKEN_ENV)
                .ok()
                .filter(|token| !token.is_empty()),
            ..NetworkOptions::default()
        };
        Network::new(options).map(Some).map_err(|error| {
            eprintln!("error: {error}");
            exit::ENVIRONMENT_MISSING
        })
    }
}

/// `pins check`: every selected pin resolved (or only read, offline); 1 when any needs
/// attention.
async fn check(
    set: &PinSet,
    selected: &[&pins::model::Pin],
    network: Option<&Network>,
    json: bool,
) -> u8 {
    let started = std::time::Instant::now();
    let results = pins::check::check(set, selected, network).await;
    if json {
        print_json(&results);
    } else {
        print!("{}", pins::report::check(&results));
        let failed = results.iter().filter(|r| r.failed()).count();
        eprintln!(
            "{} pins, {failed} need attention, {} requests, {:.2} s",
            results.len(),
            network.map_or(0, Network::requests),
            started.elapsed().as_secs_f64()
        );
    }
    if results.iter().any(|r| r.failed()) {
        exit::CHECKS_FAILED
    } else {
        exit::SUCCESS
    }
}

/// `pins outdated`: the allowed and newest version of every selected pin; 1 when one could not
/// be asked.
async fn outdated(network: &Network, selected: &[&pins::model::Pin], json: bool) -> u8 {
    let answers =
        pins::outdated::outdated(network, selected, time::OffsetDateTime::now_utc()).await;
    let mut ok = Vec::new();
    let mut code = exit::SUCCESS;
    for answer in answers {
        match answer {
            Ok(answer) => ok.push(answer),
            Err((pin, broken)) => {
                eprintln!("error: {pin}: {}", broken.message);
                code = exit::CHECKS_FAILED;
            }
        }
    }
    if json {
        print_json(&ok);
    } else {
        print!("{}", pins::report::outdated(&ok));
    }
    code
}

/// `pins pr`: bump and lock, then push one commit and open (or update) the pull request; with
/// `--dry-run` print what it would do.
async fn open_pr(
    args: PrArgs,
    set: &PinSet,
    selected: &[&pins::model::Pin],
    network: &Network,
    group: Option<&str>,
    json: bool,
) -> u8 {
    let PrArgs {
        dry_run,
        repo,
        base,
        branch,
        label,
        changelog,
        no_trial,
        trial_provider,
    } = args;
    let token = std::env::var(TOKEN_ENV)
        .ok()
        .filter(|token| !token.is_empty());
    if token.is_none() && !dry_run {
        return fail(&pins::Error::MissingToken {
            what: "`pins pr`".into(),
            variable: TOKEN_ENV.into(),
            hint: "a token with contents: write and pull-requests: write".into(),
        });
    }
    let Some(repo) = repo else {
        eprintln!("error: `pins pr` needs the repository: pass --repo owner/name or set GITHUB_REPOSITORY");
        return exit::BAD_INPUT;
    };
    let plan = plan_pr(network, selected, time::OffsetDateTime::now_utc()).await;
    print_problems(&plan);
    if plan.changes.is_empty() && plan.locked.is_empty() {
        println!("nothing to bump or lock: no pull request");
        return if plan.problems.is_empty() {
            exit::SUCCESS
        } else {
            exit::CHECKS_FAILED
        };
    }
    let changelog = changelog.unwrap_or_else(|| changelog_beside(&set.path));
    let new = match new_files(set, &plan, Some(&changelog), &today()) {
        Ok(files) => files,
        Err(error) => return fail(&error),
    };
    let files = match commit_files(&new) {
        Ok(files) => files,
        Err(message) => {
            eprintln!("error: {message}");
            return exit::BAD_INPUT;
        }
    };
    let (title, mut body) = pull_request_text(&plan, group);
    let trial_code = if no_trial {
        body.push_str(&crate::pins_trial::not_run());
        exit::SUCCESS
    } else {
        let (code, section) = crate::pins_trial::run(set, &new, trial_provider).await;
        body.push_str(&section);
        code
    };
    let target = PrTarget {
        api: std::env::var("GITHUB_API_URL").unwrap_or_else(|_| "https://api.github.com".into()),
        repo,
        base,
        branch: branch.unwrap_or_else(|| match group {
            Some(group) => format!("seatrial/pins-{group}"),
            None => "seatrial/pins".into(),
        }),
        labels: if label.is_empty() {
            vec!["dependencies".into(), "pins".into()]
        } else {
            label
        },
        title,
        body,
    };
    let token = match token {
        Some(token) if !dry_run => token,
        _ => {
            print_dry_run(&target, &files);
            return trial_code;
        }
    };
    match pins::pr::open_pull_request(&token, &target, &files).await {
        Ok(outcome) => {
            if json {
                print_json(&outcome);
            } else {
                println!(
                    "{} pull request #{} {} (branch {}, commit {})",
                    if outcome.created { "opened" } else { "updated" },
                    outcome.number,
                    outcome.url,
                    outcome.branch,
                    outcome.commit
                );
            }
            trial_code
        }
        Err(error) => fail(&error),
    }
}

/// What `pins pr --dry-run` would push and open.
fn print_dry_run(target: &PrTarget, files: &[CommitFile]) {
    println!(
        "dry run: would push branch {} to {} with one commit changing:",
        target.branch, target.repo
    );
    for file in files {
        println!("  {}", file.path);
    }
    println!(
        "and open a pull request labelled {}:\n\n# {}\n\n{}",
        target.labels.join(", "),
        target.title,
        target.body
    );
}

/// The pull request's title and body: the bump table, then the digests locked.
fn pull_request_text(plan: &Plan, group: Option<&str>) -> (String, String) {
    let plural =
        |count: usize, word: &str| format!("{count} {word}{}", if count == 1 { "" } else { "s" });
    let mut parts = Vec::new();
    if !plan.changes.is_empty() {
        parts.push(format!("bump {}", plural(plan.changes.len(), "pin")));
    }
    if !plan.locked.is_empty() {
        parts.push(format!("lock {}", plural(plan.locked.len(), "digest")));
    }
    let title = format!(
        "pins: {}{}",
        parts.join(", "),
        group.map(|g| format!(" ({g})")).unwrap_or_default()
    );
    let mut body = String::new();
    if !plan.changes.is_empty() {
        body.push_str(&pins::changelog::table(&plan.changes));
        body.push('\n');
    }
    if !plan.locked.is_empty() {
        body.push_str("Digests locked (the pin had none):\n\n| pin | digest |\n|---|---|\n");
        for (pin, digest) in &plan.locked {
            body.push_str(&format!("| `{pin}` | `{digest}` |\n"));
        }
        body.push('\n');
    }
    body.push_str(
        "Opened by `cargo xtask pins pr`; every new version was resolved and its digest locked.\n",
    );
    (title, body)
}

fn changelog_beside(pins: &Path) -> PathBuf {
    pins.parent().unwrap_or(Path::new(".")).join("CHANGELOG.md")
}

fn print_problems(plan: &Plan) {
    for problem in &plan.problems {
        eprintln!("error: {}: {}", problem.pin, problem.message);
    }
}

fn print_changes(plan: &Plan) {
    for change in &plan.changes {
        println!("{}: {} -> {}", change.pin, change.old, change.new);
    }
    if plan.changes.is_empty() {
        println!("nothing to bump");
    }
}

/// Writes (or, for a dry run, diffs) the plan's files; exit 1 when some pins had problems.
fn finish(set: &PinSet, plan: &Plan, changelog: Option<&Path>, dry_run: bool, json: bool) -> u8 {
    print_problems(plan);
    let files = match new_files(set, plan, changelog, &today()) {
        Ok(files) => files,
        Err(error) => return fail(&error),
    };
    if json {
        print_json(plan);
    }
    if dry_run {
        for (path, text) in &files {
            let old = std::fs::read_to_string(path).unwrap_or_default();
            let diff = similar::TextDiff::from_lines(&old, text);
            print!(
                "{}",
                diff.unified_diff()
                    .header(&path.display().to_string(), &path.display().to_string())
            );
        }
        println!("dry run: nothing written");
    } else if let Err(error) = write_files(&files) {
        return fail(&error);
    } else {
        for (path, _) in &files {
            println!("wrote {}", path.display());
        }
    }
    if plan.problems.is_empty() {
        exit::SUCCESS
    } else {
        exit::CHECKS_FAILED
    }
}

/// The files as repository paths (`/`-separated, from the git work tree's root).
fn commit_files(files: &[(PathBuf, String)]) -> Result<Vec<CommitFile>, String> {
    files
        .iter()
        .map(|(path, text)| {
            let absolute =
                std::path::absolute(path).map_err(|e| format!("{}: {e}", path.display()))?;
            let root = absolute
                .ancestors()
                .find(|dir| dir.join(".git").exists())
                .ok_or_else(|| format!("{} is not inside a git work tree", path.display()))?;
            let relative = absolute.strip_prefix(root).expect("an ancestor");
            Ok(CommitFile {
                path: relative
                    .components()
                    .map(|c| c.as_os_str().to_string_lossy())
                    .collect::<Vec<_>>()
                    .join("/"),
                text: text.clone(),
            })
        })
        .collect()
}

/// Asks PyPI, npm and Maven for every `[packages.*]` pin of the pin set at `path` (what the image
/// recipes install), so that a version that does not exist stops an image build before
/// anything is built (when every recipe is already built, nothing is asked). Prints each failing pin with the registry's URL and answer.
///
/// Errors (as exit codes): bad input for an unreadable pin set or a version the registry does
/// not list; environment missing when a registry cannot be reached.
pub async fn check_packages(path: &std::path::Path) -> Result<(), u8> {
    let all_built = deployer::images::recipe::load(path).is_ok_and(|recipes| {
        recipes.iter().all(|recipe| {
            deployer::images::build::cache_dir(recipe)
                .join("image.tar")
                .is_file()
        })
    });
    if all_built {
        // Nothing will be built: the registries need not be asked.
        return Ok(());
    }
    let set = pins::load::load(path).map_err(|error| fail(&error.into()))?;
    let packages: Vec<&pins::model::Pin> = set
        .pins
        .iter()
        .filter(|pin| pin.id.kind == pins::model::Kind::Package)
        .collect();
    let network = Network::new(NetworkOptions::default()).map_err(|error| {
        eprintln!("error: {error}");
        exit::ENVIRONMENT_MISSING
    })?;
    let results = pins::check::check(&set, &packages, Some(&network)).await;
    let failed: Vec<_> = results.iter().filter(|result| result.failed()).collect();
    if failed.is_empty() {
        return Ok(());
    }
    let mut unreachable = false;
    for result in &failed {
        unreachable |= result.http_status.is_none();
        eprintln!(
            "error: {} ({}) in {}: {}",
            result.pin,
            result.reference,
            path.display(),
            result.message
        );
    }
    eprintln!("no image was built");
    Err(if unreachable {
        exit::ENVIRONMENT_MISSING
    } else {
        exit::BAD_INPUT
    })
}
