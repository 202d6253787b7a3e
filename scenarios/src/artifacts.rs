//! What a failed scenario leaves behind: screenshot, HTML, console log, URL.

use std::path::Path;

use crate::browser::Browser;
use crate::record::Artifacts;

/// Where a secret value follows in page text: XSRF tokens in URLs and JupyterHub's page
/// script, and `token=` query parameters.
const SECRET_PREFIXES: [&str; 4] = [
    "_xsrf=",
    "xsrf_token: \"",
    "name=\"_xsrf\" value=\"",
    "token=",
];

/// Replaces every occurrence of each of `secrets` (the password, tokens the run created) and
/// every value after a [`SECRET_PREFIXES`] entry with `<redacted>`.
pub fn redact(text: &str, secrets: &[&str]) -> String {
    let mut text = text.to_owned();
    for secret in secrets.iter().filter(|secret| secret.len() >= 4) {
        text = text.replace(secret, "<redacted>");
    }
    for prefix in SECRET_PREFIXES {
        let mut out = String::with_capacity(text.len());
        let mut rest = text.as_str();
        while let Some(at) = rest.find(prefix) {
            let value_start = at + prefix.len();
            out.push_str(&rest[..value_start]);
            let value = &rest[value_start..];
            let end = value
                .find(|c: char| !(c.is_ascii_alphanumeric() || "-_.%=".contains(c)))
                .unwrap_or(value.len());
            if end > 0 && !value.starts_with("<redacted>") {
                out.push_str("<redacted>");
            }
            rest = &value[end..];
        }
        out.push_str(rest);
        text = out;
    }
    text
}

/// Captures the page's state into `dir` (`screenshot.png`, `page.html`, `console.log`,
/// `url.txt`), with `secrets` and XSRF tokens [redacted](redact) from the text files.
/// Anything that cannot be captured is listed in [`Artifacts::missing`] with the reason;
/// capturing never fails the run twice.
pub async fn capture(browser: &Browser, dir: &Path, secrets: &[&str]) -> Artifacts {
    let mut artifacts = Artifacts::default();
    if let Err(error) = std::fs::create_dir_all(dir) {
        artifacts
            .missing
            .push(format!("{}: {error}", dir.display()));
        return artifacts;
    }
    let client = &browser.client;
    match client.current_url().await {
        Ok(url) => {
            let url = redact(url.as_str(), secrets);
            write(
                dir,
                "url.txt",
                format!("{url}\n").as_bytes(),
                &mut artifacts,
            );
            artifacts.url = Some(url);
        }
        Err(error) => artifacts.missing.push(format!("url: {error}")),
    }
    match client.screenshot().await {
        Ok(png) => artifacts.screenshot = write(dir, "screenshot.png", &png, &mut artifacts),
        Err(error) => artifacts.missing.push(format!("screenshot: {error}")),
    }
    match client.source().await {
        Ok(html) => {
            let html = redact(&html, secrets);
            artifacts.html = write(dir, "page.html", html.as_bytes(), &mut artifacts)
        }
        Err(error) => artifacts.missing.push(format!("html: {error}")),
    }
    match browser.console_log().await {
        Ok(log) => {
            // An empty console is a finding too; say so rather than leave an empty file.
            let text = if log.is_empty() {
                "(the browser console was empty)\n".to_owned()
            } else {
                redact(&log, secrets)
            };
            artifacts.console = write(dir, "console.log", text.as_bytes(), &mut artifacts);
        }
        Err(error) => artifacts.missing.push(format!("console: {error}")),
    }
    artifacts
}

fn write(
    dir: &Path,
    name: &str,
    bytes: &[u8],
    artifacts: &mut Artifacts,
) -> Option<std::path::PathBuf> {
    let path = dir.join(name);
    match std::fs::write(&path, bytes) {
        Ok(()) => Some(path),
        Err(error) => {
            artifacts
                .missing
                .push(format!("{}: {error}", path.display()));
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::redact;

    #[test]
    fn secrets_and_xsrf_tokens_are_redacted() {
        let text = "GET /hub/spawn?_xsrf=MnwxOjB8&next=/ pw hunter22 xsrf_token: \"abc-def\", ok";
        assert_eq!(
            redact(text, &["hunter22"]),
            "GET /hub/spawn?_xsrf=<redacted>&next=/ pw <redacted> xsrf_token: \"<redacted>\", ok"
        );
        assert_eq!(redact("a token=<redacted> b", &[]), "a token=<redacted> b");
        assert_eq!(
            redact("short pw", &["pw"]),
            "short pw",
            "too short to redact safely"
        );
    }
}
