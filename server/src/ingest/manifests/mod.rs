//! Manifests on disk into an [`Inventory`]: YAML streams (multi-document),
//! JSON, JSON lines, `List` and `*List` objects (as `kubectl get -o yaml|json`
//! writes them), recursively through folders.
//!
//! One bad document never stops the others: each problem becomes a
//! [`LoadError`] naming the file, the 0-based document and the 1-based line.
//!
//! ```no_run
//! let inv = portcullis::ingest::manifests::load_paths(&["deploy/", "extra.yaml"]);
//! for e in &inv.errors {
//!     eprintln!("{e}");
//! }
//! ```

mod fold;
mod objects;
mod text;

use std::cell::OnceCell;
use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::Value;
use serde_json::value::RawValue;

use crate::model::{Inventory, LoadError, Origin};

pub use fold::finish;

use objects::{Implied, Parsed};
use text::LineIndex;

/// Files larger than this are refused without being read.
pub const MAX_FILE_BYTES: u64 = 32 * 1024 * 1024;

/// File extensions read when walking folders (files named explicitly are read
/// whatever their extension).
pub const EXTENSIONS: [&str; 4] = ["yaml", "yml", "json", "jsonl"];

/// Reads files and folders (recursively, in sorted order; hidden entries and
/// symbolic links to folders are not followed), then [`finish`]es the inventory.
/// A path that cannot be read is a [`LoadError`] naming it.
pub fn load_paths<P: AsRef<Path>>(paths: &[P]) -> Inventory {
    let mut inv = Inventory::default();
    for path in paths {
        let path = path.as_ref();
        match std::fs::metadata(path) {
            Err(e) => inv
                .errors
                .push(file_error(path, format!("cannot read: {}", io_words(&e)))),
            Ok(meta) if meta.is_dir() => {
                let mut files = Vec::new();
                walk(path, &mut files, &mut inv);
                files.sort();
                for file in files {
                    load_file(&file, &mut inv);
                }
            }
            Ok(_) => load_file(path, &mut inv),
        }
    }
    finish(&mut inv);
    inv
}

/// Reads one file's text (YAML, JSON or JSON lines, chosen by the file name's
/// extension, or by the first character when the extension says nothing).
/// Call [`finish`] once after the last file.
pub fn load_str(file: &str, text: &str, inv: &mut Inventory) {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut reader = Reader {
        file,
        by_name: objects::kind_from_file_name(file).map(|k| Implied {
            kind: k.kind,
            api_version: k.api_versions[0],
        }),
        inv,
    };
    match Format::of(file, text) {
        Format::Yaml => reader.yaml(text),
        Format::Json => reader.json(text),
        Format::JsonLines => reader.json_lines(text),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Yaml,
    Json,
    JsonLines,
}

impl Format {
    fn of(file: &str, text: &str) -> Format {
        let ext = Path::new(file)
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase);
        match ext.as_deref() {
            Some("json") => Format::Json,
            Some("jsonl" | "ndjson") => Format::JsonLines,
            Some("yaml" | "yml") => Format::Yaml,
            _ if text.trim_start().starts_with('{') => Format::Json,
            _ => Format::Yaml,
        }
    }
}

fn file_error(path: &Path, message: String) -> LoadError {
    LoadError {
        file: path.display().to_string(),
        document: None,
        line: None,
        message,
    }
}

fn io_words(e: &io::Error) -> String {
    match e.kind() {
        io::ErrorKind::NotFound => "no such file or directory".into(),
        io::ErrorKind::PermissionDenied => "permission denied".into(),
        _ => e.to_string(),
    }
}

fn walk(dir: &Path, files: &mut Vec<PathBuf>, inv: &mut Inventory) {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) => {
            inv.errors.push(file_error(
                dir,
                format!("cannot read folder: {}", io_words(&e)),
            ));
            return;
        }
    };
    for entry in entries {
        let entry = match entry {
            Ok(entry) => entry,
            Err(e) => {
                inv.errors.push(file_error(
                    dir,
                    format!("cannot read folder: {}", io_words(&e)),
                ));
                continue;
            }
        };
        if entry.file_name().to_string_lossy().starts_with('.') {
            continue;
        }
        let path = entry.path();
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        if kind.is_dir() {
            walk(&path, files, inv);
        } else if (kind.is_file() || (kind.is_symlink() && path.is_file()))
            && has_manifest_extension(&path)
        {
            files.push(path);
        }
    }
}

fn has_manifest_extension(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| EXTENSIONS.iter().any(|x| x.eq_ignore_ascii_case(e)))
}

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
}

/// Reads one file, refusing it before reading when it is over the size limit.
fn load_file(path: &Path, inv: &mut Inventory) {
    let limit_words = || {
        format!(
            "over the {} MiB limit; not read",
            MAX_FILE_BYTES / (1024 * 1024)
        )
    };
    let mut file = match File::open(path) {
        Ok(file) => file,
        Err(e) => {
            inv.errors
                .push(file_error(path, format!("cannot read: {}", io_words(&e))));
            return;
        }
    };
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    if len > MAX_FILE_BYTES {
        inv.errors.push(file_error(
            path,
            format!("file is {}, {}", mib(len), limit_words()),
        ));
        return;
    }
    // The length may change under us: never read more than the limit.
    let mut bytes = Vec::with_capacity(len as usize);
    if let Err(e) = (&mut file).take(MAX_FILE_BYTES + 1).read_to_end(&mut bytes) {
        inv.errors
            .push(file_error(path, format!("cannot read: {}", io_words(&e))));
        return;
    }
    if bytes.len() as u64 > MAX_FILE_BYTES {
        inv.errors.push(file_error(
            path,
            format!(
                "file is larger than {} MiB, {}",
                MAX_FILE_BYTES / (1024 * 1024),
                limit_words()
            ),
        ));
        return;
    }
    match String::from_utf8(bytes) {
        Ok(text) => load_str(&path.display().to_string(), &text, inv),
        Err(e) => {
            let valid = e.utf8_error().valid_up_to();
            let line = e.as_bytes()[..valid]
                .iter()
                .filter(|&&b| b == b'\n')
                .count()
                + 1;
            inv.errors.push(LoadError {
                file: path.display().to_string(),
                document: None,
                line: Some(line),
                message: format!("not UTF-8 text (invalid byte at offset {valid})"),
            });
        }
    }
}

/// Where the items of a list sit in the file.
#[derive(Clone, Copy)]
enum Source<'t> {
    /// A YAML document: its text and the file line of its first line.
    Yaml { text: &'t str, first_line: usize },
    /// A JSON value: its raw text inside the file's text.
    Json {
        raw: &'t str,
        file_text: &'t str,
        index: &'t OnceCell<LineIndex>,
    },
    /// Unknown: items get the line of their list.
    Unknown,
}

#[derive(Deserialize)]
struct ItemsProbe<'a> {
    #[serde(borrow, default)]
    items: Option<Vec<&'a RawValue>>,
}

impl<'t> Source<'t> {
    /// The line (and the source) of each item of the list at `line`.
    fn items(self, count: usize, line: usize) -> Vec<(usize, Source<'t>)> {
        let fallback = || vec![(line, Source::Unknown); count];
        match self {
            Source::Yaml { text, first_line } => match text::yaml_item_lines(text, first_line) {
                Some(lines) if lines.len() == count => {
                    lines.into_iter().map(|l| (l, Source::Unknown)).collect()
                }
                _ => fallback(),
            },
            Source::Json {
                raw,
                file_text,
                index,
            } => {
                let Ok(ItemsProbe { items: Some(items) }) =
                    serde_json::from_str::<ItemsProbe<'t>>(raw)
                else {
                    return fallback();
                };
                if items.len() != count {
                    return fallback();
                }
                let lines = index.get_or_init(|| LineIndex::new(file_text));
                items
                    .into_iter()
                    .map(|item| {
                        let raw = item.get();
                        let offset = raw.as_ptr() as usize - file_text.as_ptr() as usize;
                        (
                            lines.line_of(offset),
                            Source::Json {
                                raw,
                                file_text,
                                index,
                            },
                        )
                    })
                    .collect()
            }
            Source::Unknown => fallback(),
        }
    }
}

struct Reader<'a> {
    file: &'a str,
    /// Kind implied by the file name (`pods.jsonl`), for objects without one.
    by_name: Option<Implied<'static>>,
    inv: &'a mut Inventory,
}

impl Reader<'_> {
    fn error(&mut self, document: usize, line: Option<usize>, message: String) {
        self.inv.errors.push(LoadError {
            file: self.file.to_owned(),
            document: Some(document),
            line,
            message,
        });
    }

    fn value(
        &mut self,
        value: Value,
        document: usize,
        line: usize,
        implied: Option<Implied<'_>>,
        source: Source<'_>,
    ) {
        let origin = Origin {
            file: self.file.to_owned(),
            document,
            line,
        };
        match objects::read_object(value, implied, &origin, self.inv) {
            Err(message) => self.error(document, Some(line), message),
            Ok(Parsed::List {
                kind,
                api_version,
                items,
            }) => {
                let item_kind = kind.strip_suffix("List").unwrap_or_default();
                let implied = (!item_kind.is_empty()).then_some(Implied {
                    kind: item_kind,
                    api_version: &api_version,
                });
                let lines = source.items(items.len(), line);
                for (item, (line, source)) in items.into_iter().zip(lines) {
                    self.value(item, document, line, implied, source);
                }
            }
            Ok(Parsed::Read | Parsed::Skipped) => {}
        }
    }

    fn yaml(&mut self, text: &str) {
        for doc in text::split_yaml(text) {
            if doc.content_line == 0 {
                continue;
            }
            let shift = doc.first_line - 1;
            match serde_yaml_ng::from_str::<Value>(doc.text) {
                Ok(Value::Null) => {}
                Ok(value) => {
                    let source = Source::Yaml {
                        text: doc.text,
                        first_line: doc.first_line,
                    };
                    self.value(value, doc.index, doc.content_line, self.by_name, source);
                }
                Err(e) => {
                    let line = e.location().map_or(doc.content_line, |l| l.line() + shift);
                    self.error(
                        doc.index,
                        Some(line),
                        text::shift_lines(&e.to_string(), shift),
                    );
                }
            }
        }
    }

    fn json(&mut self, text: &str) {
        let index = OnceCell::new();
        let stream = serde_json::Deserializer::from_str(text).into_iter::<&RawValue>();
        for (document, next) in stream.enumerate() {
            match next {
                Ok(raw) => {
                    let offset = raw.get().as_ptr() as usize - text.as_ptr() as usize;
                    let line = index.get_or_init(|| LineIndex::new(text)).line_of(offset);
                    match serde_json::from_str::<Value>(raw.get()) {
                        Ok(value) => {
                            let source = Source::Json {
                                raw: raw.get(),
                                file_text: text,
                                index: &index,
                            };
                            self.value(value, document, line, self.by_name, source);
                        }
                        Err(e) => self.error(document, Some(line), e.to_string()),
                    }
                }
                Err(e) => {
                    // JSON cannot be resynchronised after a syntax error.
                    let line = (e.line() > 0).then_some(e.line());
                    self.error(document, line, e.to_string());
                    break;
                }
            }
        }
    }

    fn json_lines(&mut self, text: &str) {
        let mut document = 0;
        for (i, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let line_no = i + 1;
            match serde_json::from_str::<Value>(line) {
                Ok(value) => self.value(value, document, line_no, self.by_name, Source::Unknown),
                Err(e) => self.error(
                    document,
                    Some(line_no),
                    text::shift_lines(&e.to_string(), i),
                ),
            }
            document += 1;
        }
    }
}
