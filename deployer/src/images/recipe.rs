//! Image recipes of the pin set: `[recipes.<name>]` says which Debian suite and packages an
//! image is made of, `[packages.<name>]` pins each PyPI, npm or Maven package it installs,
//! and `tools` names Go programs built from `[tools.<name>]` (module and tag) that it
//! carries. The `pins` crate resolves and bumps those pins like every other pin; this module
//! reads what the build needs (docs/images.md documents the format).
//!
//! ```toml
//! [packages.jupyterhub]
//! pypi = "jupyterhub"
//! version = "9.9.1"
//!
//! [recipes.hub]
//! stands_for = "hub"            # where images are built here, it replaces [images.hub]
//! debian = "bookworm"
//! apt = ["python3", "python3-venv"]
//! packages = ["jupyterhub"]     # PyPI packages go into a venv at /opt/venv
//! user = "jovyan"               # created with uid 1000; the image runs as it
//! cmd = ["jupyterhub"]
//!
//! [packages.keycloak]
//! maven = "org.keycloak:keycloak-quarkus-dist"   # a tar.gz distribution, unpacked
//! version = "9.9.1"                              # into /opt/keycloak
//!
//! [recipes.traefik]
//! tools = ["traefik"]           # [tools.traefik] go_module/tag, built, in /usr/local/bin
//! ```

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

use crate::error::{Error, Result};
use crate::pins::{line_of_table, ImagePin, ImagePins};

/// Where built images are named: `localhost/seatrial/<recipe>:<fingerprint>`.
pub const REPOSITORY_PREFIX: &str = "localhost/seatrial/";

/// The uid (and gid) of a recipe's `user`.
pub const USER_ID: u32 = 1000;

/// The Debian mirror recipes install from when they name none.
pub const DEFAULT_MIRROR: &str = "http://deb.debian.org/debian";

/// Which registry a package pin comes from.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Registry {
    /// The Python Package Index (installed with pip into `/opt/venv`).
    PyPi,
    /// The npm registry (installed with `npm install --global`).
    Npm,
    /// Maven Central (or the repository of `$SEATRIAL_MAVEN_REPOSITORY`): a `tar.gz`
    /// distribution (`group:artifact`), fetched with `mvn dependency:copy` and unpacked
    /// into `/opt/<key>`, owned by the recipe's user.
    Maven,
}

/// One pinned package a recipe installs.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PackagePin {
    /// The pin's key (`packages.<key>`).
    pub key: String,
    /// The registry.
    pub registry: Registry,
    /// The package's name in its registry (`jupyterhub-kubespawner`).
    pub name: String,
    /// The exact version.
    pub version: String,
    /// The line of its table in the pin set file (1-based).
    pub line: usize,
}

impl PackagePin {
    /// `name==version` for pip, `name@version` for npm, `group:artifact:version:tar.gz`
    /// (the artifact coordinate `mvn dependency:copy` takes) for Maven.
    pub fn requirement(&self) -> String {
        match self.registry {
            Registry::PyPi => format!("{}=={}", self.name, self.version),
            Registry::Npm => format!("{}@{}", self.name, self.version),
            Registry::Maven => format!("{}:{}:tar.gz", self.name, self.version),
        }
    }
}

/// A Go program an image carries: built from `[tools.<key>]`'s module at its tag by
/// [`crate::providers::binaries`], copied to `/usr/local/bin`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ToolPin {
    /// The pin's key (`tools.<key>`), also the build recipe's name.
    pub key: String,
    /// The Go module (`github.com/traefik/traefik/v3`).
    pub module: String,
    /// The tag (`v9.9.1`).
    pub tag: String,
}

/// One image recipe, with its packages resolved to their pins.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ImageRecipe {
    /// The recipe's key (`recipes.<name>`), also the image's name.
    pub name: String,
    /// The `[images.<name>]` pin it replaces where images are built here.
    pub stands_for: String,
    /// The Debian suite (`bookworm`).
    pub debian: String,
    /// The Debian mirror.
    pub mirror: String,
    /// Debian packages to install.
    pub apt: Vec<String>,
    /// PyPI, npm and Maven packages, in recipe order.
    pub packages: Vec<PackagePin>,
    /// Go programs built from `[tools.*]`, in recipe order.
    pub tools: Vec<ToolPin>,
    /// Directories made (after the packages are in) and owned by the recipe's user, such as
    /// the directory a server writes its data to (`/opt/keycloak/data`): a volume mounted
    /// below a missing directory would make it root's.
    pub writable: Vec<String>,
    /// The user created with uid/gid [`USER_ID`] and a home in `/home/<user>`, that the image
    /// runs as; root when `None`.
    pub user: Option<String>,
    /// The image's `Entrypoint`.
    pub entrypoint: Vec<String>,
    /// The image's `Cmd`.
    pub cmd: Vec<String>,
    /// The line of its table in the pin set file (1-based).
    pub line: usize,
}

impl ImageRecipe {
    /// 12 hex digits of a sha256 over everything that goes into the image: a changed
    /// package version, suite or command gives another tag (and another cache entry).
    pub fn fingerprint(&self) -> String {
        // Where a recipe or package sits in the pin set file is not what the image is made
        // of: an edit elsewhere in the file must not rebuild every image.
        let mut identity = self.clone();
        identity.line = 0;
        for package in &mut identity.packages {
            package.line = 0;
        }
        let text = format!("{identity:?}|format 1");
        let digest = crate::images::oci::sha256_digest(text.as_bytes());
        digest["sha256:".len().."sha256:".len() + 12].to_owned()
    }

    /// `localhost/seatrial/<name>:<fingerprint>`.
    pub fn reference(&self) -> String {
        format!("{REPOSITORY_PREFIX}{}:{}", self.name, self.fingerprint())
    }

    /// The PyPI packages.
    pub fn pypi(&self) -> impl Iterator<Item = &PackagePin> {
        self.packages
            .iter()
            .filter(|package| package.registry == Registry::PyPi)
    }

    /// The npm packages.
    pub fn npm(&self) -> impl Iterator<Item = &PackagePin> {
        self.packages
            .iter()
            .filter(|package| package.registry == Registry::Npm)
    }

    /// The Maven distributions.
    pub fn maven(&self) -> impl Iterator<Item = &PackagePin> {
        self.packages
            .iter()
            .filter(|package| package.registry == Registry::Maven)
    }
}

#[derive(Deserialize)]
struct RawFile {
    #[serde(default)]
    packages: BTreeMap<String, RawPackage>,
    #[serde(default)]
    recipes: BTreeMap<String, RawRecipe>,
    #[serde(default)]
    tools: BTreeMap<String, RawTool>,
}

// Only the keys a Go-built tool has; the pins crate validates the rest.
#[derive(Deserialize)]
struct RawTool {
    go_module: Option<String>,
    tag: Option<String>,
}

// Only the keys this module reads; the pins crate validates the rest of a package pin.
#[derive(Deserialize)]
struct RawPackage {
    pypi: Option<String>,
    npm: Option<String>,
    maven: Option<String>,
    version: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRecipe {
    description: Option<String>,
    stands_for: String,
    debian: String,
    mirror: Option<String>,
    #[serde(default)]
    apt: Vec<String>,
    #[serde(default)]
    packages: Vec<String>,
    #[serde(default)]
    tools: Vec<String>,
    #[serde(default)]
    writable: Vec<String>,
    user: Option<String>,
    #[serde(default)]
    entrypoint: Vec<String>,
    #[serde(default)]
    cmd: Vec<String>,
}

/// Reads every `[recipes.*]` of the pin set at `path`, in name order.
///
/// Errors: [`Error::Read`]; [`Error::Invalid`] with the line and key for malformed TOML, an
/// unknown recipe key, a package the recipe names that `[packages.*]` lacks, a package pin
/// with neither or both of `pypi` and `npm`, a recipe standing for an image the pin set does
/// not have, or a name that is not a plain package name (they are passed to a shell).
pub fn load(path: &Path) -> Result<Vec<ImageRecipe>> {
    let text = std::fs::read_to_string(path).map_err(|source| Error::Read {
        path: path.to_owned(),
        source,
    })?;
    parse(path, &text)
}

/// [`load`] on text already read; `path` is used in messages.
pub fn parse(path: &Path, text: &str) -> Result<Vec<ImageRecipe>> {
    let raw: RawFile = toml::from_str(text).map_err(|error| {
        let line = error
            .span()
            .map_or(0, |span| text[..span.start].lines().count().max(1));
        Error::invalid(path, line, error.message().to_owned())
    })?;
    let images = crate::pins::parse_images(path, text)?;
    let mut recipes = Vec::new();
    for (name, recipe) in &raw.recipes {
        let line = line_of_table(text, &format!("recipes.{name}"));
        let fail = |message: String| Error::invalid(path, line, message);
        let _ = &recipe.description;
        if !images.contains_key(&recipe.stands_for) {
            return Err(fail(format!(
                "`recipes.{name}.stands_for`: the pin set has no `[images.{}]`",
                recipe.stands_for
            )));
        }
        for (key, value) in [("debian", &recipe.debian)]
            .into_iter()
            .chain(recipe.apt.iter().map(|package| ("apt", package)))
            .chain(recipe.user.iter().map(|user| ("user", user)))
        {
            if !plain(value) {
                return Err(fail(format!(
                    "`recipes.{name}.{key}`: `{value}` is not a plain name (letters, digits, `.`, `+`, `-`, `_`)"
                )));
            }
        }
        let mut packages = Vec::new();
        for key in &recipe.packages {
            let package = raw.packages.get(key).ok_or_else(|| {
                fail(format!(
                    "`recipes.{name}.packages`: the pin set has no `[packages.{key}]`"
                ))
            })?;
            let package_line = line_of_table(text, &format!("packages.{key}"));
            let package_fail = |message: String| Error::invalid(path, package_line, message);
            let (registry, package_name) = match (&package.pypi, &package.npm, &package.maven) {
                (Some(name), None, None) => (Registry::PyPi, name.clone()),
                (None, Some(name), None) => (Registry::Npm, name.clone()),
                (None, None, Some(name)) => (Registry::Maven, name.clone()),
                _ => {
                    return Err(package_fail(format!(
                        "`packages.{key}` needs exactly one of `pypi`, `npm` and `maven`"
                    )))
                }
            };
            let version = package
                .version
                .clone()
                .ok_or_else(|| package_fail(format!("`packages.{key}.version` is missing")))?;
            let npm_name = |text: &str| {
                let bare = text.strip_prefix('@').unwrap_or(text);
                bare.split('/').count() <= 2 && bare.split('/').all(plain)
            };
            let maven_name = |text: &str| {
                let parts: Vec<&str> = text.split(':').collect();
                parts.len() == 2 && parts.iter().all(|part| plain(part))
            };
            let name_ok = match registry {
                Registry::Maven => maven_name(&package_name) && plain(key),
                _ => npm_name(&package_name),
            };
            if !name_ok || !plain(&version) {
                return Err(package_fail(format!(
                    "`packages.{key}`: `{package_name}` `{version}` is not a plain package name and version (Maven: `group:artifact`)"
                )));
            }
            packages.push(PackagePin {
                key: key.clone(),
                registry,
                name: package_name,
                version,
                line: package_line,
            });
        }
        for dir in &recipe.writable {
            let plain_path =
                dir.starts_with('/') && !dir.contains("..") && dir[1..].split('/').all(plain);
            if !plain_path {
                return Err(fail(format!(
                    "`recipes.{name}.writable`: `{dir}` is not an absolute path of plain names"
                )));
            }
        }
        let mut tools = Vec::new();
        for key in &recipe.tools {
            let tool = raw.tools.get(key);
            let (Some(module), Some(tag)) = (
                tool.and_then(|tool| tool.go_module.clone()),
                tool.and_then(|tool| tool.tag.clone()),
            ) else {
                return Err(fail(format!(
                    "`recipes.{name}.tools`: the pin set has no `[tools.{key}]` with `go_module` and `tag`"
                )));
            };
            if !plain(key) {
                return Err(fail(format!(
                    "`recipes.{name}.tools`: `{key}` is not a plain name"
                )));
            }
            tools.push(ToolPin {
                key: key.clone(),
                module,
                tag,
            });
        }
        recipes.push(ImageRecipe {
            name: name.clone(),
            stands_for: recipe.stands_for.clone(),
            debian: recipe.debian.clone(),
            mirror: recipe
                .mirror
                .clone()
                .unwrap_or_else(|| DEFAULT_MIRROR.to_owned()),
            apt: recipe.apt.clone(),
            packages,
            tools,
            writable: recipe.writable.clone(),
            user: recipe.user.clone(),
            entrypoint: recipe.entrypoint.clone(),
            cmd: recipe.cmd.clone(),
            line,
        });
    }
    Ok(recipes)
}

/// The image pins that built images replace: `[images.<stands_for>]` → the recipe's
/// reference, for every recipe of the pin set at `path`.
///
/// Errors: as [`load`].
pub fn stand_ins(path: &Path) -> Result<ImagePins> {
    Ok(load(path)?
        .into_iter()
        .map(|recipe| {
            let pin = ImagePin {
                repository: format!("{REPOSITORY_PREFIX}{}", recipe.name),
                tag: recipe.fingerprint(),
                digest: None,
            };
            (recipe.stands_for, pin)
        })
        .collect())
}

fn plain(text: &str) -> bool {
    !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '+' | '-' | '_'))
}

#[cfg(test)]
mod tests {
    use super::*;

    const PINS: &str = r#"
[images.hub]
repository = "quay.io/jupyterhub/k8s-hub"
tag = "9.9.1"

[packages.jupyterhub]
pypi = "jupyterhub"
version = "9.9.2"

[packages.chp]
npm = "configurable-http-proxy"
version = "9.9.3"

[recipes.hub]
stands_for = "hub"
debian = "bookworm"
apt = ["python3", "python3-venv"]
packages = ["jupyterhub", "chp"]
user = "jovyan"
cmd = ["jupyterhub"]
"#;

    #[test]
    fn recipes_resolve_their_packages_and_stand_in_for_an_image() {
        let recipes = parse(Path::new("p.toml"), PINS).unwrap();
        let hub = &recipes[0];
        assert_eq!(hub.line, 14);
        assert_eq!(
            hub.packages
                .iter()
                .map(PackagePin::requirement)
                .collect::<Vec<_>>(),
            ["jupyterhub==9.9.2", "configurable-http-proxy@9.9.3"]
        );
        assert_eq!(hub.mirror, DEFAULT_MIRROR);
        assert_eq!(
            hub.reference(),
            format!("localhost/seatrial/hub:{}", hub.fingerprint())
        );

        // Another version is another image.
        let bumped = parse(Path::new("p.toml"), &PINS.replace("9.9.2", "9.9.4")).unwrap();
        assert_ne!(bumped[0].fingerprint(), hub.fingerprint());
        assert_eq!(bumped[0].fingerprint().len(), 12);
        // Lines added elsewhere in the file move the tables, not the image.
        let moved = parse(Path::new("p.toml"), &format!("# a comment\n\n{PINS}")).unwrap();
        assert_eq!(moved[0].line, 16);
        assert_eq!(moved[0].fingerprint(), hub.fingerprint());
    }

    #[test]
    fn bad_recipes_name_the_line_and_key() {
        let error = |text: String| parse(Path::new("p.toml"), &text).unwrap_err().to_string();
        assert_eq!(
            error(PINS.replace("\"chp\"]", "\"nope\"]")),
            "p.toml:14: `recipes.hub.packages`: the pin set has no `[packages.nope]`"
        );
        assert_eq!(
            error(PINS.replace("stands_for = \"hub\"", "stands_for = \"proxy\"")),
            "p.toml:14: `recipes.hub.stands_for`: the pin set has no `[images.proxy]`"
        );
        assert!(
            error(PINS.replace("\"python3\",", "\"python3; rm -rf /\",")).starts_with(
                "p.toml:14: `recipes.hub.apt`: `python3; rm -rf /` is not a plain name"
            ),
        );
        assert_eq!(
            error(PINS.replace("npm = \"configurable-http-proxy\"", "")),
            "p.toml:10: packages.chp.pypi: a package needs exactly one of `pypi` (a PyPI project), `npm` (an npm package) and `maven` (`group:artifact` in a Maven repository)"
        );
        assert!(error(PINS.replace(
            "npm = \"configurable-http-proxy\"",
            "maven = \"org.keycloak\""
        ))
        .contains("is not a plain package name and version (Maven: `group:artifact`)"),);
        assert_eq!(
            error(PINS.replace("user = \"jovyan\"", "user = \"jovyan\"\ntools = [\"traefik\"]")),
            "p.toml:14: `recipes.hub.tools`: the pin set has no `[tools.traefik]` with `go_module` and `tag`"
        );
        assert!(error(PINS.replace("cmd =", "cmnd =")).contains("unknown field `cmnd`"));
    }
}
