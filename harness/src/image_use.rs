//! Which of the images built here a run's stages use: only those are imported into the local
//! node or loaded into kind's nodes (a `kind load image-archive` of the hub and Keycloak
//! images is tens of seconds each on two cores, wasted on a run that stops at the ingress).

use deployer::images::BuiltImage;

use crate::integration::PreparedStage;

/// The images of `built` that some stage of `prepared` names, in `built`'s order.
///
/// A stage names an image when its rendered manifests (as JSON) or its chart's rendered
/// values contain the image's whole reference (`localhost/seatrial/hub:<tag>`), or both its
/// repository and its tag (a values file may give them apart, as `repository:` and `tag:`).
pub fn used_images(prepared: &[PreparedStage], built: Vec<BuiltImage>) -> Vec<BuiltImage> {
    let texts: Vec<String> = prepared.iter().flat_map(stage_texts).collect();
    built
        .into_iter()
        .filter(|image| texts.iter().any(|text| names(text, &image.reference)))
        .collect()
}

/// The rendered text of a stage: each manifest as JSON, and the chart's values.
fn stage_texts(stage: &PreparedStage) -> Vec<String> {
    stage
        .manifests
        .iter()
        .map(|manifest| serde_json::to_string(&manifest.object).unwrap_or_default())
        .chain(stage.chart.iter().map(|chart| chart.values.clone()))
        .collect()
}

/// Whether `text` names `reference` (`repository:tag`): whole, or as its two parts.
fn names(text: &str, reference: &str) -> bool {
    if text.contains(reference) {
        return true;
    }
    // The tag follows the last colon after the last slash (a registry's port is not a tag).
    let slash = reference.rfind('/').map_or(0, |at| at + 1);
    match reference[slash..].rfind(':') {
        Some(colon) => {
            let (repository, tag) = reference.split_at(slash + colon);
            contains_word(text, repository) && contains_word(text, &tag[1..])
        }
        None => contains_word(text, reference),
    }
}

/// Whether `word` occurs in `text` not as part of a longer name (`…/hub` in `…/hubble`).
fn contains_word(text: &str, word: &str) -> bool {
    let continues = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/');
    text.match_indices(word).any(|(at, _)| {
        let before = text[..at].chars().next_back();
        let after = text[at + word.len()..].chars().next();
        !before.is_some_and(continues) && !after.is_some_and(continues)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reference_is_named_whole_or_as_repository_and_tag() {
        let hub = "localhost/seatrial/hub:abc123";
        assert!(names(r#"{"image":"localhost/seatrial/hub:abc123"}"#, hub));
        assert!(names(
            "image:\n  name: localhost/seatrial/hub\n  tag: abc123\n",
            hub
        ));
        // Another tag of the same repository, a longer repository, the tag alone: not named.
        assert!(!names(r#"{"image":"localhost/seatrial/hub:zzz"}"#, hub));
        assert!(!names(
            "name: localhost/seatrial/hubble\ntag: abc123\n",
            hub
        ));
        assert!(!names("tag: abc123\n", hub));
        // A registry's port is not a tag.
        assert!(names("image: registry:5000/hub\n", "registry:5000/hub"));
    }

    /// The default platform with its built stand-ins: a run that stops at the ingress uses
    /// Traefik's image only; a whole run uses all five.
    #[test]
    fn a_run_uses_the_images_of_the_stages_it_deploys() {
        let platform =
            deployer::platform::Platform::load(&deployer::platform::default_platform_dir())
                .unwrap();
        let config = deployer::config::Config::embedded_default();
        let mut tls =
            deployer::tls::PlatformTls::for_domain(&config.project_name, &config.domain).unwrap();
        let dir = tempfile::tempdir().unwrap();
        tls.write_ca(&dir.path().join("platform-ca.crt")).unwrap();
        let built: Vec<BuiltImage> = deployer::images::recipe::stand_ins(&platform.pins_file)
            .unwrap()
            .into_iter()
            .map(|(name, pin)| BuiltImage {
                reference: pin.reference(),
                archive: format!("/images/{name}.tar").into(),
                built: false,
            })
            .collect();
        assert_eq!(built.len(), 5);
        let archives = |stop_at| {
            let prepared =
                crate::integration::prepare(&platform, &config, stop_at, true, true, &tls).unwrap();
            let mut used: Vec<String> = used_images(&prepared, built.clone())
                .into_iter()
                .map(|image| image.archive.display().to_string())
                .collect();
            used.sort();
            used
        };
        assert_eq!(archives(Some("ingress")), ["/images/traefik.tar"]);
        assert_eq!(
            archives(None),
            [
                "/images/http_proxy.tar",
                "/images/hub.tar",
                "/images/keycloak.tar",
                "/images/singleuser.tar",
                "/images/traefik.tar",
            ]
        );
    }
}
