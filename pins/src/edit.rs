//! Format-preserving edits of the pin set file (toml_edit): only the changed values' text
//! changes; comments, blank lines, key order and a value's own trailing comment stay.

use std::path::Path;

use toml_edit::{DocumentMut, Item, Value};

use crate::error::{Error, Result};
use crate::model::PinId;

/// One value to set: `<pin>.<key> = value` (added at the end of the pin's table when absent).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Edit {
    /// The pin.
    pub pin: PinId,
    /// The key: `version`, `tag` or `digest`.
    pub key: &'static str,
    /// The new string value.
    pub value: String,
}

/// Applies `edits` to pin set `text` (read from `path`, named in errors).
///
/// Errors: [`Error::PinSet`] (invalid) when the text is not TOML or a pin's table is missing.
pub fn apply(path: &Path, text: &str, edits: &[Edit]) -> Result<String> {
    let mut document: DocumentMut = text.parse().map_err(|error: toml_edit::TomlError| {
        Error::PinSet(deployer::pinset::Error::Invalid {
            path: path.to_owned(),
            line: error
                .span()
                .map_or(0, |span| text[..span.start].matches('\n').count() + 1),
            key: "(file)".to_owned(),
            message: error.message().to_owned(),
        })
    })?;
    for edit in edits {
        let missing = || {
            Error::PinSet(deployer::pinset::Error::Invalid {
                path: path.to_owned(),
                line: 0,
                key: edit.pin.to_string(),
                message: "no such pin table to edit".to_owned(),
            })
        };
        let table = document
            .get_mut(edit.pin.kind.table())
            .and_then(|kind| kind.get_mut(&edit.pin.name))
            .and_then(Item::as_table_like_mut)
            .ok_or_else(missing)?;
        match table.get_mut(edit.key) {
            Some(item) => {
                let mut value = Value::from(edit.value.as_str());
                if let Some(old) = item.as_value() {
                    *value.decor_mut() = old.decor().clone();
                }
                *item = Item::Value(value);
            }
            None => {
                table.insert(edit.key, Item::Value(Value::from(edit.value.as_str())));
            }
        }
    }
    Ok(document.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Kind;

    #[test]
    fn only_the_values_change() {
        let text = "# head\n[images.a]  # the a image\nrepository = \"docker.io/a/a\"\ntag   =   \"1.0.0\"   # keep me\n\n# next\n[images.b]\nrepository = \"docker.io/b/b\"\ntag = \"2.0.0\"\n";
        let edited = apply(
            Path::new("p.toml"),
            text,
            &[
                Edit {
                    pin: PinId {
                        kind: Kind::Image,
                        name: "a".into(),
                    },
                    key: "tag",
                    value: "1.1.0".into(),
                },
                Edit {
                    pin: PinId {
                        kind: Kind::Image,
                        name: "a".into(),
                    },
                    key: "digest",
                    value: format!("sha256:{}", "0".repeat(64)),
                },
            ],
        )
        .unwrap();
        assert_eq!(
            edited,
            format!("# head\n[images.a]  # the a image\nrepository = \"docker.io/a/a\"\ntag   =   \"1.1.0\"   # keep me\ndigest = \"sha256:{}\"\n\n# next\n[images.b]\nrepository = \"docker.io/b/b\"\ntag = \"2.0.0\"\n", "0".repeat(64))
        );
    }
}
