//! What serde cannot say with a line: a YAML text's duplicate mapping keys and its alias
//! expansion, found in the parser's events (yaml-rust2, which marks each event with its line)
//! before the text is deserialized.
//!
//! YAML 1.2 requires the keys of a mapping to be unique (§3.2.1.1); serde either keeps the last
//! of two equal keys (into a `Value`) or reports the duplicate at the mapping's first line
//! (into a struct). Aliases (`*name`) repeat an anchored node wherever they stand, so a few
//! lines can stand for billions of nodes (the "billion laughs" alias bomb); serde stops such a
//! text without a line.

use std::collections::HashMap;

use serde::de::DeserializeOwned;
use yaml_rust2::parser::{Event, Parser};

/// At most this many nodes, aliases expanded, in one document.
pub const MAX_EXPANDED_NODES: usize = 100_000;

/// A problem with a YAML text and its 1-based line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// 1-based line (0 only when the deserializer gave none).
    pub line: usize,
    /// 0-based index of the document it is in.
    pub document: usize,
    /// What kind of problem it is.
    pub kind: ProblemKind,
    /// What is wrong, e.g. "duplicate key `settings` (first on line 3)".
    pub message: String,
}

/// The kinds of [`Problem`]; callers decide by kind, never by message text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProblemKind {
    /// The text is not YAML at all (the parser stopped).
    Syntax,
    /// A mapping repeats a key.
    DuplicateKey,
    /// Aliases expand a document beyond [`MAX_EXPANDED_NODES`].
    AliasBomb,
    /// The YAML is fine but does not deserialize into the wanted type (serde's message).
    Shape,
}

/// What [`check`] learnt of a text that passed it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Outline {
    /// The 1-based line where each document's content starts (its first node), in order;
    /// an empty document has the line of its start.
    pub document_lines: Vec<usize>,
}

/// Deserializes the one document `text` into `T` once [`check`] passed it.
///
/// Errors: [`check`]'s problem, or serde's message with its line (0 when it has none).
///
/// A syntax error is reported as serde_yaml_ng (libyaml) reports it, its message and line,
/// as before this check existed; only what libyaml accepts or cannot place comes from here.
pub fn from_str<T: DeserializeOwned>(text: &str) -> Result<T, Problem> {
    let serde_problem = |error: serde_yaml_ng::Error| Problem {
        line: error.location().map_or(0, |location| location.line()),
        document: 0,
        kind: ProblemKind::Shape,
        message: error.to_string(),
    };
    match check(text) {
        Err(problem) if problem.kind == ProblemKind::Syntax => {
            match serde_yaml_ng::from_str::<T>(text) {
                Err(error) if error.location().is_some() => Err(serde_problem(error)),
                _ => Err(problem),
            }
        }
        Err(problem) => Err(problem),
        Ok(_) => serde_yaml_ng::from_str(text).map_err(serde_problem),
    }
}

/// One open collection.
enum Frame {
    Mapping {
        anchor: usize,
        size: usize,
        /// Scalar keys seen, with their lines.
        keys: HashMap<String, usize>,
        /// True when the next node is a key.
        at_key: bool,
    },
    Sequence {
        anchor: usize,
        size: usize,
    },
}

/// Checks `text` (one or more documents): its syntax, that no mapping repeats a key, and that
/// no document expands to more than [`MAX_EXPANDED_NODES`] nodes.
///
/// Errors: a [`Problem`] at the line of the syntax error, the repeated key, or the alias that
/// crosses the limit.
pub fn check(text: &str) -> Result<Outline, Problem> {
    let mut parser = Parser::new_from_str(text);
    let mut outline = Outline::default();
    let mut stack: Vec<Frame> = Vec::new();
    let mut anchors: HashMap<usize, usize> = HashMap::new();
    let mut document_open = false;
    let mut documents = 0usize;
    loop {
        let document = documents.saturating_sub(1);
        let (event, mark) = parser.next_token().map_err(|error| Problem {
            line: error.marker().line(),
            document,
            kind: ProblemKind::Syntax,
            message: format!("not valid YAML: {}", error.info()),
        })?;
        let line = mark.line();
        if document_open && !matches!(event, Event::DocumentEnd | Event::StreamEnd) {
            outline.document_lines.push(line);
            document_open = false;
        }
        // A node's size (aliases expanded) once it is complete, and its text when it is a
        // plain scalar (a mapping key can be checked only then).
        let completed: Option<(usize, Option<String>)> = match event {
            Event::StreamEnd => return Ok(outline),
            Event::DocumentStart => {
                document_open = true;
                documents += 1;
                anchors.clear();
                None
            }
            Event::DocumentEnd => {
                if document_open {
                    outline.document_lines.push(line);
                    document_open = false;
                }
                None
            }
            Event::Scalar(value, _, anchor, _) => {
                if anchor > 0 {
                    anchors.insert(anchor, 1);
                }
                Some((1, Some(value)))
            }
            Event::Alias(anchor) => {
                let size = anchors.get(&anchor).copied().unwrap_or(1);
                Some((size, None))
            }
            Event::MappingStart(anchor, _) => {
                stack.push(Frame::Mapping {
                    anchor,
                    size: 1,
                    keys: HashMap::new(),
                    at_key: true,
                });
                None
            }
            Event::SequenceStart(anchor, _) => {
                stack.push(Frame::Sequence { anchor, size: 1 });
                None
            }
            Event::MappingEnd | Event::SequenceEnd => {
                let (anchor, size) = match stack.pop() {
                    Some(
                        Frame::Mapping { anchor, size, .. } | Frame::Sequence { anchor, size },
                    ) => (anchor, size),
                    None => (0, 1),
                };
                if anchor > 0 {
                    anchors.insert(anchor, size);
                }
                Some((size, None))
            }
            Event::StreamStart | Event::Nothing => None,
        };
        let Some((size, scalar)) = completed else {
            continue;
        };
        let too_big = || {
            Problem {
            line,
            document,
            kind: ProblemKind::AliasBomb,
            message: format!(
                "aliases expand this document to more than {MAX_EXPANDED_NODES} nodes (an alias bomb?)"
            ),
        }
        };
        if size > MAX_EXPANDED_NODES {
            return Err(too_big());
        }
        match stack.last_mut() {
            Some(Frame::Mapping {
                size: parent,
                keys,
                at_key,
                ..
            }) => {
                *parent = parent.saturating_add(size);
                if *parent > MAX_EXPANDED_NODES {
                    return Err(too_big());
                }
                if *at_key {
                    if let Some(key) = scalar.filter(|key| key != "<<") {
                        if let Some(first) = keys.insert(key.clone(), line) {
                            return Err(Problem {
                                line,
                                document,
                                kind: ProblemKind::DuplicateKey,
                                message: format!("duplicate key `{key}` (first on line {first})"),
                            });
                        }
                    }
                }
                *at_key = !*at_key;
            }
            Some(Frame::Sequence { size: parent, .. }) => {
                *parent = parent.saturating_add(size);
                if *parent > MAX_EXPANDED_NODES {
                    return Err(too_big());
                }
            }
            None => {}
        }
    }
}

/// The 1-based line of the mapping key at `path` (keys from the root mapping of the first
/// document, e.g. `["stages", "ingress", "replicas"]`), found in the parser's events; `None`
/// when the text has no such key or is not YAML. Keys inside sequences are not looked at.
pub fn line_of_path(text: &str, path: &[&str]) -> Option<usize> {
    /// A mapping or sequence being read, and the key it is the value of.
    struct Frame {
        mapping: bool,
        expecting_key: bool,
        pending_key: Option<String>,
        /// The key this collection is the value of (`None` for the root and sequence items;
        /// a NUL for a complex key, which no path names).
        entered_by: Option<String>,
        /// Whether this collection is itself a (complex) key.
        is_key: bool,
    }
    let mut parser = Parser::new_from_str(text);
    let mut stack: Vec<Frame> = Vec::new();
    loop {
        let (event, mark) = parser.next_token().ok()?;
        match event {
            Event::StreamEnd | Event::DocumentEnd => return None,
            Event::Scalar(..) | Event::Alias(_) => {
                let Some(top) = stack.last() else {
                    continue;
                };
                if !top.mapping {
                    continue;
                }
                if top.expecting_key {
                    let key = match &event {
                        Event::Scalar(value, ..) => Some(value.clone()),
                        _ => None,
                    };
                    let inside_sequence = stack.iter().any(|frame| !frame.mapping);
                    if let Some(key) = &key {
                        let mut keys: Vec<&str> = stack
                            .iter()
                            .filter_map(|frame| frame.entered_by.as_deref())
                            .collect();
                        keys.push(key);
                        if !inside_sequence && keys == path {
                            return Some(mark.line());
                        }
                    }
                    let top = stack.last_mut().expect("looked at above");
                    top.pending_key = key;
                    top.expecting_key = false;
                } else {
                    let top = stack.last_mut().expect("looked at above");
                    top.pending_key = None;
                    top.expecting_key = true;
                }
            }
            Event::MappingStart(..) | Event::SequenceStart(..) => {
                let (entered_by, is_key) = match stack.last_mut() {
                    Some(top) if top.mapping && top.expecting_key => {
                        top.expecting_key = false;
                        top.pending_key = None;
                        (Some("\0".to_owned()), true)
                    }
                    Some(top) if top.mapping => (
                        Some(top.pending_key.take().unwrap_or_else(|| "\0".to_owned())),
                        false,
                    ),
                    _ => (None, false),
                };
                stack.push(Frame {
                    mapping: matches!(event, Event::MappingStart(..)),
                    expecting_key: true,
                    pending_key: None,
                    entered_by,
                    is_key,
                });
            }
            Event::MappingEnd | Event::SequenceEnd => {
                let ended = stack.pop()?;
                if let Some(top) = stack.last_mut().filter(|top| top.mapping) {
                    // After a complex key comes its value; after a value, the next key.
                    top.expecting_key = !ended.is_key;
                }
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn a_key_path_is_found_at_its_line_and_not_elsewhere() {
        let text = "replicas: 1\nstages:\n  ingress:\n    replicas: 2\n  list:\n    - replicas: 3\n  \"quoted\": {replicas: 4}\n";
        assert_eq!(line_of_path(text, &["replicas"]), Some(1));
        assert_eq!(line_of_path(text, &["stages"]), Some(2));
        assert_eq!(
            line_of_path(text, &["stages", "ingress", "replicas"]),
            Some(4)
        );
        assert_eq!(
            line_of_path(text, &["stages", "quoted", "replicas"]),
            Some(7)
        );
        // Keys inside sequences, and keys that are not there, are not found.
        assert_eq!(line_of_path(text, &["stages", "list", "replicas"]), None);
        assert_eq!(line_of_path(text, &["stages", "keycloak"]), None);
        assert_eq!(line_of_path("a: [", &["a", "b"]), None);
    }
    use super::*;

    #[test]
    fn a_repeated_key_is_found_at_its_own_line_at_any_depth() {
        let text = "name: a\nsettings:\n  x: 1\n\nother: 2\n\nsettings: {}\n";
        assert_eq!(
            check(text),
            Err(Problem {
                line: 7,
                document: 0,
                kind: ProblemKind::DuplicateKey,
                message: "duplicate key `settings` (first on line 2)".into()
            })
        );
        let nested = "a:\n  b: 1\n  c: 2\n  b: 3\n";
        assert_eq!(check(nested).unwrap_err().line, 4);
        // The same key in two mappings, and merge keys, are fine.
        assert!(check("- {a: 1}\n- {a: 2}\n").is_ok());
        assert!(check("base: &b {x: 1}\none: {<<: *b, y: 2}\n").is_ok());
    }

    #[test]
    fn an_alias_bomb_is_stopped_at_the_line_that_crosses_the_limit() {
        let mut text = String::from("a: &a [x, x, x, x, x, x, x, x, x, x]\n");
        let mut previous = 'a';
        for name in ['b', 'c', 'd', 'e', 'f', 'g'] {
            let aliases = vec![format!("*{previous}"); 10].join(", ");
            text.push_str(&format!("{name}: &{name} [{aliases}]\n"));
            previous = name;
        }
        let problem = check(&text).unwrap_err();
        // b = 111 nodes, c = 1,111, d = 11,111, e = 111,111 crosses 100,000 on line 5.
        assert_eq!(problem.line, 5, "{problem:?}");
        assert_eq!(problem.kind, ProblemKind::AliasBomb, "{problem:?}");
        assert!(problem.message.contains("alias bomb"), "{problem:?}");
        // Ordinary anchors pass.
        assert!(check("x: &x {a: 1}\ny: *x\n").is_ok());
    }

    #[test]
    fn documents_are_located_and_syntax_errors_have_their_line() {
        let outline = check("a: 1\n---\n\nkind: B\n---\n- x\n").unwrap();
        assert_eq!(outline.document_lines, vec![1, 4, 6]);
        let problem = check("a: 1\nb: [unclosed\n").unwrap_err();
        assert_eq!(problem.kind, ProblemKind::Syntax, "{problem:?}");
        assert!(problem.message.starts_with("not valid YAML"), "{problem:?}");
        assert!(problem.line >= 2, "{problem:?}");
    }
}
