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

use objects::{Implied, Parsed, Syntax};
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
    let mut items = Vec::new();
    for path in paths {
        let path = path.as_ref();
        match std::fs::metadata(path) {
            Err(e) => items.push(Item::Error(file_error(
                path,
                format!("cannot read: {}", io_words(&e)),
            ))),
            Ok(meta) if meta.is_dir() => {
                let mut found = Vec::new();
                let mut walk_errors = Inventory::default();
                walk(path, &mut found, &mut walk_errors);
                found.sort();
                items.extend(walk_errors.errors.into_iter().map(Item::Error));
                items.extend(found.into_iter().map(Item::File));
            }
            Ok(_) => items.push(Item::File(path.to_path_buf())),
        }
    }
    for part in load_parallel(&items) {
        append(&mut inv, part);
    }
    finish(&mut inv);
    inv
}

/// A file to read, or a path that could not be listed, in input order.
enum Item {
    File(PathBuf),
    Error(LoadError),
}

fn load_items(items: &[Item]) -> Inventory {
    let mut inv = Inventory::default();
    for item in items {
        match item {
            Item::File(file) => load_file(file, &mut inv),
            Item::Error(e) => inv.errors.push(e.clone()),
        }
    }
    inv
}

/// Loads files on every core, in contiguous runs so the result keeps the order
/// of `items`.
fn load_parallel(items: &[Item]) -> Vec<Inventory> {
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(items.len().div_ceil(64).max(1));
    if threads <= 1 {
        return vec![load_items(items)];
    }
    let chunk = items.len().div_ceil(threads);
    std::thread::scope(|scope| {
        let handles: Vec<_> = items
            .chunks(chunk)
            .map(|run| scope.spawn(move || load_items(run)))
            .collect();
        handles
            .into_iter()
            .map(|h| match h.join() {
                Ok(inv) => inv,
                Err(panic) => std::panic::resume_unwind(panic),
            })
            .collect()
    })
}

/// Appends everything read into `part` to `inv`.
fn append(inv: &mut Inventory, part: Inventory) {
    inv.namespaces.extend(part.namespaces);
    inv.workloads.extend(part.workloads);
    inv.services.extend(part.services);
    inv.network_policies.extend(part.network_policies);
    inv.config_maps.extend(part.config_maps);
    inv.errors.extend(part.errors);
    for (kind, n) in part.skipped {
        *inv.skipped.entry(kind).or_insert(0) += n;
    }
}

/// Reads one file's text (YAML, JSON or JSON lines, chosen by the file name's
/// extension, or by the first character when the extension says nothing).
/// Objects of a JSON-lines file without a kind take it from the file name
/// (`pods.jsonl` → Pod, `deployments.jsonl` → Deployment, `svc.jsonl` → Service).
/// Call [`finish`] once after the last file.
pub fn load_str(file: &str, text: &str, inv: &mut Inventory) {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let format = Format::of(file, text);
    let mut reader = Reader {
        file,
        // Dumps in JSON lines (`pods.jsonl`) hold bare items: the file name says
        // what they are. Elsewhere a missing kind stays an error.
        by_name: (format == Format::JsonLines)
            .then(|| objects::kind_from_file_name(file))
            .flatten()
            .map(|k| Implied {
                kind: k.kind,
                api_version: k.api_versions[0],
            }),
        syntax: match format {
            Format::Yaml => Syntax::Yaml,
            Format::Json | Format::JsonLines => Syntax::Json,
        },
        inv,
    };
    match format {
        Format::Yaml => reader.yaml(text),
        Format::Json => reader.json(text),
        Format::JsonLines => reader.json_lines(text),
    }
}

/// Reads one JSON object (or a `*List` of them), as the Kubernetes API returns
/// it, into `inv`; a problem with it becomes a [`LoadError`] at `origin`. Items
/// of an API list carry no `kind`: give each its kind and `apiVersion` first,
/// or pass the whole list. Call [`finish`] once after the last object.
pub fn load_value(value: Value, origin: &Origin, inv: &mut Inventory) {
    let mut reader = Reader {
        file: &origin.file,
        by_name: None,
        syntax: Syntax::Json,
        inv,
    };
    reader.value(value, origin.document, origin.line, None, Source::Unknown);
}

/// Whether the loader reads objects of `kind` written with `api_version`
/// (other groups with the same kind name, such as CRDs, are skipped).
pub fn reads(kind: &str, api_version: &str) -> bool {
    objects::KINDS
        .iter()
        .any(|k| k.kind == kind && k.api_versions.contains(&api_version))
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
            format!("file is {len} bytes ({}), {}", mib(len), limit_words()),
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
                "file grew past the {} MiB limit while being read; not read",
                MAX_FILE_BYTES / (1024 * 1024)
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
    syntax: Syntax,
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
        match objects::read_object(value, implied, self.syntax, &origin, self.inv) {
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
                Ok(mut value) => {
                    if doc.text.contains("<<") {
                        objects::apply_merge_keys(&mut value);
                    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::WorkloadKey;

    fn load(file: &str, text: &str) -> Inventory {
        let mut inv = Inventory::default();
        load_str(file, text, &mut inv);
        finish(&mut inv);
        inv
    }

    fn keys(inv: &Inventory) -> Vec<String> {
        inv.workloads.iter().map(|w| w.key.to_string()).collect()
    }

    fn errors(inv: &Inventory) -> Vec<(Option<usize>, Option<usize>, String)> {
        inv.errors
            .iter()
            .map(|e| (e.document, e.line, e.message.clone()))
            .collect()
    }

    const POD: &str = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: web\nspec:\n  containers:\n  - name: app\n    image: nginx\n";

    #[test]
    fn reads_each_kind_with_its_template() {
        let text = "\
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop, labels: {app: web}}
spec:
  replicas: 3
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: app, image: nginx}]}
---
apiVersion: batch/v1
kind: CronJob
metadata: {name: nightly}
spec:
  schedule: '0 1 * * *'
  jobTemplate:
    spec:
      template:
        spec: {restartPolicy: Never, containers: [{name: job, image: busybox}]}
---
apiVersion: v1
kind: ReplicationController
metadata: {name: old}
spec: {template: {spec: {containers: [{name: c}]}}}
---
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: agent}
spec: {selector: {}, template: {spec: {containers: [{name: c}]}}}
---
apiVersion: v1
kind: Namespace
metadata: {name: shop, labels: {pod-security.kubernetes.io/enforce: baseline}}
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: shop}
spec: {ports: [{port: 80}]}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: deny, namespace: shop}
spec: {podSelector: {}}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: c}
---
apiVersion: example.com/v1
kind: Deployment
metadata: {name: not-ours}
";
        let inv = load("all.yaml", text);
        assert!(inv.errors.is_empty(), "{:?}", inv.errors);
        assert_eq!(
            keys(&inv),
            [
                "shop/Deployment/web",
                "default/CronJob/nightly",
                "default/ReplicationController/old",
                "default/DaemonSet/agent"
            ]
        );
        let web = &inv.workloads[0];
        assert_eq!(web.replicas, Some(3));
        assert_eq!(web.labels.get("app").map(String::as_str), Some("web"));
        assert_eq!(web.template.spec.containers[0].name, "app");
        assert_eq!(
            web.origin,
            Origin {
                file: "all.yaml".into(),
                document: 0,
                line: 1
            }
        );
        assert_eq!(web.raw["spec"]["replicas"], 3);
        let cron = &inv.workloads[1];
        assert_eq!(cron.schedule.as_deref(), Some("0 1 * * *"));
        assert_eq!(cron.template.spec.containers[0].name, "job");
        assert_eq!(cron.replicas, None);
        assert_eq!(cron.origin.line, 11);
        assert_eq!(inv.workloads[2].replicas, Some(1), "replicas default to 1");
        assert_eq!(inv.namespaces[0].name, "shop");
        assert_eq!(inv.services[0].namespace, "shop");
        assert_eq!(inv.network_policies[0].name, "deny");
        assert_eq!(inv.config_maps[0].name, "c");
        assert_eq!(inv.skipped.get("ConfigMap"), None);
        assert_eq!(inv.skipped.get("Deployment (example.com/v1)"), Some(&1));
    }

    #[test]
    fn one_broken_document_leaves_the_others() {
        let text = format!(
            "{POD}---\napiVersion: v1\nkind: Pod\nmetadata:\n  name: [broken\n---\n{}",
            POD.replace("web", "db")
        );
        let inv = load("multi.yaml", &text);
        assert_eq!(keys(&inv), ["default/Pod/web", "default/Pod/db"]);
        assert_eq!(inv.workloads[1].origin.document, 2);
        assert_eq!(inv.workloads[1].origin.line, 15);
        let [e] = inv.errors.as_slice() else {
            panic!("{:?}", inv.errors)
        };
        assert_eq!((e.file.as_str(), e.document), ("multi.yaml", Some(1)));
        // The error is reported on the line after the unclosed `[`, in file lines.
        assert!(matches!(e.line, Some(13..=14)), "{e}");
        assert!(e.message.contains("line 1"), "{e}");
    }

    #[test]
    fn yaml_error_lines_are_file_lines() {
        let text =
            "# header\n---\napiVersion: v1\nkind: Pod\nmetadata:\n  name: a\n   bad: indentation\n";
        let inv = load("x.yaml", text);
        let [e] = inv.errors.as_slice() else {
            panic!("{:?}", inv.errors)
        };
        assert_eq!(e.document, Some(0));
        assert_eq!(e.line, Some(7), "{e}");
        assert!(e.message.contains("line 7"), "{e}");
    }

    #[test]
    fn type_errors_name_the_field_path() {
        let text = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec:\n  selector: {}\n  template:\n    spec:\n      containers:\n      - name: app\n        securityContext: {runAsUser: root}\n";
        let inv = load("d.yaml", &format!("{POD}---\n{text}"));
        assert_eq!(keys(&inv), ["default/Pod/web"]);
        assert_eq!(
            errors(&inv),
            [(
                Some(1),
                Some(10),
                "spec.template.spec.containers[0].securityContext.runAsUser: invalid type: string \"root\", expected i64".to_owned()
            )]
        );
        let wrong = load(
            "m.yaml",
            "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec: {containers: {image: x}}\n",
        );
        assert_eq!(
            errors(&wrong)[0].2,
            "spec.containers: invalid type: map, expected a sequence"
        );
    }

    #[test]
    fn objects_need_kind_api_version_and_name() {
        let cases = [
            (
                "apiVersion: v1\nmetadata: {name: a}\n",
                "object has no kind",
            ),
            (
                "kind: Pod\nmetadata: {name: a}\n",
                "object has no apiVersion",
            ),
            (
                "apiVersion: v1\nkind: Pod\nspec: {containers: []}\n",
                "metadata.name is missing",
            ),
            (
                "apiVersion: v1\nkind: Pod\nmetadata: {generateName: a-}\n",
                "metadata.name is missing (only metadata.generateName is set)",
            ),
            (
                "apiVersion: v1\nkind: Pod\nmetadata: {name: a}\n",
                "spec is missing",
            ),
            (
                "apiVersion: v1\nkind: 3\n",
                "kind: invalid type: a number, expected a string",
            ),
            (
                "- a\n- b\n",
                "not a Kubernetes object: the document is a list",
            ),
            (
                "apiVersion: v1\nkind: List\nitems: {}\n",
                "items: invalid type: a map, expected a list",
            ),
        ];
        for (text, message) in cases {
            let inv = load("o.yaml", text);
            assert_eq!(
                errors(&inv),
                [(Some(0), Some(1), message.to_owned())],
                "{text}"
            );
        }
    }

    #[test]
    fn lists_give_items_their_kind_and_line() {
        let text = "\
apiVersion: v1
kind: PodList
items:
- metadata: {name: a, namespace: ns1}
  spec: {containers: [{name: c}]}
- metadata: {name: b}
  spec:
    containers:
    - name: c
      securityContext: {privileged: maybe}
kind: PodList
";
        let inv = load("pods.yaml", text);
        assert_eq!(keys(&inv), ["ns1/Pod/a"]);
        assert_eq!(inv.workloads[0].origin.line, 4);
        assert_eq!(
            inv.workloads[0].raw["kind"], "Pod",
            "raw carries the kind the list implies"
        );
        assert_eq!(errors(&inv), [(Some(0), Some(6), "spec.containers[0].securityContext.privileged: invalid type: string \"maybe\", expected a boolean".to_owned())]);

        let json = r#"{
  "kind": "List", "apiVersion": "v1",
  "items": [
    {"kind": "DeploymentList", "apiVersion": "apps/v1", "items": [
      {"metadata": {"name": "d"}, "spec": {"selector": {}, "template": {"spec": {"containers": [{"name": "c"}]}}}}
    ]},
    {"kind": "Service", "apiVersion": "v1", "metadata": {"name": "s"}},
    {"metadata": {"name": "nokind"}}
  ]
}"#;
        let inv = load("all.json", json);
        assert_eq!(keys(&inv), ["default/Deployment/d"]);
        assert_eq!(inv.workloads[0].origin.line, 5);
        assert_eq!(inv.workloads[0].api_version, "apps/v1");
        assert_eq!(inv.services[0].origin.line, 7);
        assert_eq!(
            errors(&inv),
            [(Some(0), Some(8), "object has no kind".to_owned())]
        );
    }

    #[test]
    fn json_lines_take_the_kind_from_the_file_name() {
        let text = "{\"metadata\":{\"name\":\"a\",\"namespace\":\"x\"},\"spec\":{\"containers\":[{\"name\":\"c\"}]}}\n\n{\"metadata\":{\"name\":\"b\"},\"spec\":{\"containers\":[{\"name\":\"c\"}]}}\n{broken\n";
        let inv = load("dump/pods.jsonl", text);
        assert_eq!(keys(&inv), ["x/Pod/a", "default/Pod/b"]);
        assert_eq!(
            inv.workloads[1].origin,
            Origin {
                file: "dump/pods.jsonl".into(),
                document: 1,
                line: 3
            }
        );
        assert_eq!(inv.workloads[1].api_version, "v1");
        let [e] = inv.errors.as_slice() else {
            panic!("{:?}", inv.errors)
        };
        assert_eq!((e.document, e.line), (Some(2), Some(4)));
        assert!(e.message.contains("line 4"), "{e}");

        let inv = load("things.jsonl", "{\"metadata\":{\"name\":\"a\"}}\n");
        assert_eq!(
            errors(&inv),
            [(Some(0), Some(1), "object has no kind".to_owned())]
        );
        let inv = load(
            "services.jsonl",
            "{\"metadata\":{\"name\":\"s\"},\"spec\":{}}\n",
        );
        assert_eq!(inv.services.len(), 1);
    }

    #[test]
    fn comments_empty_documents_and_end_markers() {
        let text = format!(
            "# only a comment\n---\n---\n# another\n---\n{POD}...\n---\n{}...\n",
            POD.replace("web", "db")
        );
        let inv = load("c.yaml", &text);
        assert!(inv.errors.is_empty(), "{:?}", inv.errors);
        assert_eq!(keys(&inv), ["default/Pod/web", "default/Pod/db"]);
        assert_eq!(inv.workloads[0].origin.document, 2);
        assert_eq!(inv.workloads[1].origin.document, 3);
    }

    #[test]
    fn names_load_verbatim() {
        let inv = load(
            "x.yaml",
            &POD.replace("name: web", "name: \"<script>alert(1)</script>\""),
        );
        assert_eq!(
            inv.workloads[0].key,
            WorkloadKey::new("default", "Pod", "<script>alert(1)</script>")
        );
    }

    #[test]
    fn older_api_versions_and_shapes_load() {
        let text = "apiVersion: extensions/v1beta1\nkind: Deployment\nmetadata: {name: old}\nspec:\n  template:\n    spec: {containers: [{name: c}]}\n";
        let inv = load("old.yaml", text);
        assert!(inv.errors.is_empty(), "{:?}", inv.errors);
        assert_eq!(inv.workloads[0].api_version, "extensions/v1beta1");
        assert!(
            inv.workloads[0].raw["spec"].get("selector").is_none(),
            "raw stays as read"
        );

        let early = r#"{"kind":"Pod","apiVersion":"v1","metadata":{"name":"p"},"spec":{"containers":[{"name":"c"}],"restartPolicy":{"always":{}}}}"#;
        let inv = load("early.json", early);
        assert!(inv.errors.is_empty(), "{:?}", inv.errors);
        assert_eq!(
            inv.workloads[0].template.spec.restart_policy.as_deref(),
            Some("Always")
        );
    }

    #[test]
    fn yaml_1_1_scalars_and_merge_keys_read_as_kubectl_reads_them() {
        let text = "\
apiVersion: v1
kind: Pod
metadata: {name: p, labels: {mode: '0644', enabled: yes}}
spec:
  containers:
  - &base
    name: a
    securityContext: {privileged: yes, runAsUser: 1_000}
  - <<: *base
    name: b
  volumes:
  - {name: s, secret: {secretName: s, defaultMode: 0644}}
";
        let inv = load("p.yaml", text);
        assert!(inv.errors.is_empty(), "{:?}", inv.errors);
        let w = &inv.workloads[0];
        assert_eq!(
            w.labels.get("mode").map(String::as_str),
            Some("0644"),
            "strings stay strings"
        );
        assert_eq!(w.labels.get("enabled").map(String::as_str), Some("yes"));
        let spec = &w.template.spec;
        let secret = spec.volumes.as_ref().and_then(|v| v[0].secret.as_ref());
        assert_eq!(secret.and_then(|s| s.default_mode), Some(0o644));
        let b = &spec.containers[1];
        assert_eq!(b.name, "b");
        let sc = b.security_context.as_ref();
        assert_eq!(sc.and_then(|s| s.privileged), Some(true));
        assert_eq!(sc.and_then(|s| s.run_as_user), Some(1000));

        // JSON has no such readings.
        let json = r#"{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"},"spec":{"containers":[{"name":"c","securityContext":{"privileged":"yes"}}]}}"#;
        let inv = load("p.json", json);
        assert_eq!(
            errors(&inv)[0].2,
            "spec.containers[0].securityContext.privileged: invalid type: string \"yes\", expected a boolean"
        );
        // Nor do words that are not YAML 1.1 scalars.
        let inv = load(
            "p.yaml",
            &POD.replace("image: nginx", "securityContext: {runAsUser: root}"),
        );
        assert_eq!(
            errors(&inv)[0].2,
            "spec.containers[0].securityContext.runAsUser: invalid type: string \"root\", expected i64"
        );
    }

    fn owned(kind: &str, name: &str, owner: Option<(&str, &str, &str)>, uid: &str) -> String {
        let owner = owner.map_or(String::new(), |(k, n, u)| {
            format!(", ownerReferences: [{{apiVersion: apps/v1, kind: {k}, name: {n}, uid: '{u}', controller: true}}]")
        });
        let (api, spec) = match kind {
            "Pod" => ("v1", "{containers: [{name: c}]}".to_owned()),
            "CronJob" => ("batch/v1", "{schedule: '* * * * *', jobTemplate: {spec: {template: {spec: {containers: [{name: c}]}}}}}".to_owned()),
            "Job" => ("batch/v1", "{template: {spec: {containers: [{name: c}]}}}".to_owned()),
            _ => ("apps/v1", "{selector: {}, template: {spec: {containers: [{name: c}]}}}".to_owned()),
        };
        format!(
            "---\napiVersion: {api}\nkind: {kind}\nmetadata: {{name: {name}, uid: '{uid}'{owner}}}\nspec: {spec}\n"
        )
    }

    #[test]
    fn folds_pods_and_controllers_under_their_owner() {
        let text = [
            owned(
                "Pod",
                "web-5d8f-abcde",
                Some(("ReplicaSet", "web-5d8f", "rs1")),
                "p1",
            ),
            owned("Deployment", "web", None, "d1"),
            owned(
                "ReplicaSet",
                "web-5d8f",
                Some(("Deployment", "web", "d1")),
                "rs1",
            ),
            owned(
                "Pod",
                "web-5d8f-fghij",
                Some(("ReplicaSet", "web-5d8f", "rs1")),
                "p2",
            ),
            owned("Pod", "orphan-x", Some(("ReplicaSet", "gone", "rs9")), "p3"),
            owned(
                "Pod",
                "stale",
                Some(("ReplicaSet", "web-5d8f", "other-uid")),
                "p4",
            ),
            owned("CronJob", "nightly", None, "cj"),
            owned("Job", "nightly-1", Some(("CronJob", "nightly", "cj")), "j1"),
            owned("Pod", "nightly-1-x", Some(("Job", "nightly-1", "j1")), "p5"),
            owned("StatefulSet", "db", None, "s1"),
            owned("Pod", "db-0", Some(("StatefulSet", "db", "s1")), "p6"),
            owned("Pod", "lone", None, "p7"),
        ]
        .concat();
        let inv = load("cluster.yaml", &text);
        assert!(inv.errors.is_empty(), "{:?}", inv.errors);
        assert_eq!(
            keys(&inv),
            [
                "default/Deployment/web",
                "default/Pod/orphan-x",
                "default/Pod/stale",
                "default/CronJob/nightly",
                "default/StatefulSet/db",
                "default/Pod/lone"
            ]
        );
        assert_eq!(
            inv.workloads[0].folded,
            [
                "ReplicaSet/web-5d8f",
                "Pod/web-5d8f-abcde",
                "Pod/web-5d8f-fghij"
            ]
        );
        assert_eq!(
            inv.workloads[3].folded,
            ["Job/nightly-1", "Pod/nightly-1-x"]
        );
        assert_eq!(inv.workloads[4].folded, ["Pod/db-0"]);
        assert!(inv.workloads[1].folded.is_empty());
    }

    #[test]
    fn duplicates_keep_the_first() {
        let other = POD.replace("image: nginx", "image: httpd");
        let inv = load("d.yaml", &format!("{POD}---\n{POD}---\n{other}"));
        assert_eq!(inv.workloads.len(), 1);
        assert_eq!(
            inv.workloads[0].template.spec.containers[0]
                .image
                .as_deref(),
            Some("nginx")
        );
        let [e] = inv.errors.as_slice() else {
            panic!("{:?}", inv.errors)
        };
        assert_eq!((e.document, e.line), (Some(2), Some(19)));
        assert!(e.message.starts_with("duplicate default/Pod/web"), "{e}");

        let ns = "apiVersion: v1\nkind: Namespace\nmetadata: {name: shop, labels: {a: '1'}}\n---\napiVersion: v1\nkind: Namespace\nmetadata: {name: shop, labels: {b: '2'}, annotations: {x: y}}\n";
        let inv = load("ns.yaml", ns);
        assert!(inv.errors.is_empty(), "{:?}", inv.errors);
        assert_eq!(inv.namespaces.len(), 1);
        assert_eq!(inv.namespaces[0].labels.len(), 2);
        assert_eq!(inv.namespaces[0].annotations.len(), 1);
        let inv = load(
            "ns.yaml",
            &format!(
                "{ns}---\napiVersion: v1\nkind: Namespace\nmetadata: {{name: shop, labels: {{a: '2'}}}}\n"
            ),
        );
        assert_eq!(
            inv.namespaces[0].labels.get("a").map(String::as_str),
            Some("1")
        );
        assert_eq!(inv.errors.len(), 1, "{:?}", inv.errors);
    }

    #[test]
    fn format_follows_the_extension_then_the_text() {
        assert_eq!(Format::of("a.JSON", ""), Format::Json);
        assert_eq!(Format::of("a.ndjson", ""), Format::JsonLines);
        assert_eq!(Format::of("a.yml", "{"), Format::Yaml);
        assert_eq!(Format::of("-", "  {\"kind\": 1}"), Format::Json);
        assert_eq!(Format::of("-", "kind: Pod"), Format::Yaml);
    }
}
