//! Text-level helpers: splitting a YAML stream into documents with their lines,
//! finding the lines of `items:` entries, and mapping byte offsets to lines.
//! Everything here is one linear pass over the text.

/// One YAML document of a stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct YamlDoc<'a> {
    /// 0-based index of the document in the file.
    pub index: usize,
    /// The document text. For a document opened by `---` it starts right after the
    /// marker, so its first line is the marker line.
    pub text: &'a str,
    /// 1-based file line of the first line of `text`.
    pub first_line: usize,
    /// 1-based file line of the first line with content (not blank, not a comment).
    pub content_line: usize,
}

/// Whether a line holds nothing but whitespace and maybe a comment.
fn is_blank_or_comment(line: &str) -> bool {
    let t = line.trim_start();
    t.is_empty() || t.starts_with('#')
}

/// `---` alone or followed by whitespace: the start of a document.
fn is_start_marker(line: &str) -> bool {
    line.strip_prefix("---")
        .is_some_and(|rest| rest.is_empty() || rest.starts_with([' ', '\t', '\r', '\n']))
}

/// `...` followed by nothing but whitespace or a comment: the end of a document.
fn is_end_marker(line: &str) -> bool {
    line.strip_prefix("...").is_some_and(|rest| {
        let rest = rest.trim_start();
        rest.is_empty() || rest.starts_with('#')
    })
}

/// Lines of `text` with their byte offsets, line terminators kept.
fn lines_with_offsets(text: &str) -> impl Iterator<Item = (usize, &str)> {
    let mut offset = 0;
    text.split_inclusive('\n').map(move |line| {
        let start = offset;
        offset += line.len();
        (start, line)
    })
}

struct Open {
    start: usize,
    first_line: usize,
    /// Opened by `---`: counts as a document even when empty.
    explicit: bool,
    /// First line with content (not blank, not a comment, not a `%` directive).
    content_line: Option<usize>,
}

fn close<'a>(
    open: &Open,
    end: usize,
    text: &'a str,
    index: &mut usize,
    docs: &mut Vec<YamlDoc<'a>>,
) {
    if !open.explicit && open.content_line.is_none() {
        return;
    }
    docs.push(YamlDoc {
        index: *index,
        text: &text[open.start..end],
        first_line: open.first_line,
        content_line: open.content_line.unwrap_or(0),
    });
    *index += 1;
}

/// Splits a YAML stream on `---` and `...` lines. Documents opened by `---` are
/// numbered even when empty (as YAML parsers count them); text before the first
/// `---` is a document only when it has content. Empty and comment-only documents
/// are returned with `content_line == 0` so that callers can skip them.
pub(super) fn split_yaml(text: &str) -> Vec<YamlDoc<'_>> {
    let mut docs = Vec::new();
    let mut index = 0;
    let mut open = Open {
        start: 0,
        first_line: 1,
        explicit: false,
        content_line: None,
    };
    let mut line_no = 0;
    for (offset, line) in lines_with_offsets(text) {
        line_no += 1;
        if is_start_marker(line) {
            close(&open, offset, text, &mut index, &mut docs);
            open = Open {
                start: offset + 3,
                first_line: line_no,
                explicit: true,
                content_line: (!is_blank_or_comment(&line[3..])).then_some(line_no),
            };
        } else if is_end_marker(line) {
            close(&open, offset, text, &mut index, &mut docs);
            open = Open {
                start: offset + line.len(),
                first_line: line_no + 1,
                explicit: false,
                content_line: None,
            };
        } else if open.content_line.is_none()
            && !is_blank_or_comment(line)
            && (open.explicit || !line.starts_with('%'))
        {
            open.content_line = Some(line_no);
        }
    }
    close(&open, text.len(), text, &mut index, &mut docs);
    docs
}

/// The 1-based file lines of the entries of a top-level block sequence `items:`
/// in a YAML document (the layout `kubectl get -o yaml` writes). Returns `None`
/// when the layout is not recognised (flow style, odd indentation); callers then
/// fall back to the document's line.
pub(super) fn yaml_item_lines(doc: &str, first_line: usize) -> Option<Vec<usize>> {
    let mut lines = doc
        .split_inclusive('\n')
        .enumerate()
        .map(|(i, l)| (first_line + i, l.trim_end_matches(['\n', '\r'])));
    // The top-level `items:` key, with nothing after it but a comment.
    lines.by_ref().find(|(_, l)| {
        l.strip_prefix("items:").is_some_and(|rest| {
            let rest = rest.trim_start();
            rest.is_empty() || rest.starts_with('#')
        })
    })?;
    let mut indent = None;
    let mut found = Vec::new();
    for (no, line) in lines {
        if is_blank_or_comment(line) {
            continue;
        }
        let spaces = line.len() - line.trim_start_matches(' ').len();
        let rest = &line[spaces..];
        let is_entry = rest == "-" || rest.starts_with("- ") || rest.starts_with("-\t");
        match indent {
            None if is_entry => {
                indent = Some(spaces);
                found.push(no);
            }
            None => return None,
            Some(d) if spaces == d && is_entry => found.push(no),
            Some(d) if spaces > d => {}
            Some(_) => break,
        }
    }
    Some(found)
}

/// Maps byte offsets of a text to 1-based lines.
pub(super) struct LineIndex {
    newlines: Vec<usize>,
}

impl LineIndex {
    pub(super) fn new(text: &str) -> Self {
        let newlines = text
            .bytes()
            .enumerate()
            .filter_map(|(i, b)| (b == b'\n').then_some(i))
            .collect();
        Self { newlines }
    }

    /// The 1-based line holding byte `offset`.
    pub(super) fn line_of(&self, offset: usize) -> usize {
        self.newlines.partition_point(|&nl| nl < offset) + 1
    }
}

/// Rewrites every `line N` in a YAML error message to `line N + shift`, so that
/// lines counted inside one document read as lines of the file.
pub(super) fn shift_lines(message: &str, shift: usize) -> String {
    let mut out = String::with_capacity(message.len() + 8);
    let mut rest = message;
    while let Some(pos) = rest.find("line ") {
        let (head, tail) = rest.split_at(pos + "line ".len());
        out.push_str(head);
        let digits = tail.bytes().take_while(u8::is_ascii_digit).count();
        match tail[..digits].parse::<usize>() {
            Ok(n) if digits > 0 => out.push_str(&(n + shift).to_string()),
            _ => out.push_str(&tail[..digits]),
        }
        rest = &tail[digits..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary(text: &str) -> Vec<(usize, usize, usize, String)> {
        split_yaml(text)
            .into_iter()
            .map(|d| (d.index, d.first_line, d.content_line, d.text.to_string()))
            .collect()
    }

    /// (index, first_line, content_line) of each document.
    type Lines = &'static [(usize, usize, usize)];

    #[test]
    fn splits_documents_with_their_lines() {
        let cases: &[(&str, Lines)] = &[
            // (text, [(index, first_line, content_line)])
            ("a: 1\n", &[(0, 1, 1)]),
            ("a: 1\n---\nb: 2\n", &[(0, 1, 1), (1, 2, 3)]),
            ("---\na: 1\n---\nb: 2\n", &[(0, 1, 2), (1, 3, 4)]),
            ("# licence\n\n---\na: 1\n", &[(0, 3, 4)]),
            (
                "a: 1\n---\n# only a comment\n---\nb: 2\n",
                &[(0, 1, 1), (1, 2, 0), (2, 4, 5)],
            ),
            ("a: 1\n---\n", &[(0, 1, 1), (1, 2, 0)]),
            ("a: 1\n...\n---\nb: 2\n", &[(0, 1, 1), (1, 3, 4)]),
            ("a: 1\n...\nb: 2\n", &[(0, 1, 1), (1, 3, 3)]),
            ("%YAML 1.2\n---\na: 1\n", &[(0, 2, 3)]),
            ("--- {a: 1}\n", &[(0, 1, 1)]),
            ("--- # comment\na: 1\n", &[(0, 1, 2)]),
            ("a: 1\r\n---\r\nb: 2\r\n", &[(0, 1, 1), (1, 2, 3)]),
            ("a: |\n  ---not a marker\n----\n", &[(0, 1, 1)]),
            ("", &[]),
            ("\n# nothing\n", &[]),
        ];
        for (text, want) in cases {
            let got: Vec<_> = summary(text)
                .into_iter()
                .map(|(i, f, c, _)| (i, f, c))
                .collect();
            assert_eq!(&got, want, "splitting {text:?}");
        }
    }

    #[test]
    fn document_text_starts_after_the_marker() {
        let docs = summary("a: 1\n--- {b: 2}\nc: 3\n");
        assert_eq!(docs[0].3, "a: 1\n");
        assert_eq!(docs[1].3, " {b: 2}\nc: 3\n");
    }

    #[test]
    fn finds_item_lines() {
        let doc = "apiVersion: v1\nitems:\n- apiVersion: v1\n  kind: Pod\n  # c\n- kind: Pod\n  spec:\n    x: |\n      - not an item\nkind: List\n";
        assert_eq!(yaml_item_lines(doc, 10), Some(vec![12, 15]));
        let indented = "items:\n  - a: 1\n  - b: 2\nkind: List\n";
        assert_eq!(yaml_item_lines(indented, 1), Some(vec![2, 3]));
        assert_eq!(yaml_item_lines("items: []\n", 1), None);
        assert_eq!(yaml_item_lines("kind: List\n", 1), None);
    }

    #[test]
    fn maps_offsets_to_lines() {
        let idx = LineIndex::new("ab\ncd\n\nef");
        assert_eq!(idx.line_of(0), 1);
        assert_eq!(idx.line_of(2), 1);
        assert_eq!(idx.line_of(3), 2);
        assert_eq!(idx.line_of(6), 3);
        assert_eq!(idx.line_of(7), 4);
    }

    #[test]
    fn shifts_lines_in_messages() {
        assert_eq!(
            shift_lines(
                "did not find expected key at line 3 column 1, while parsing a block mapping at line 1 column 1",
                9
            ),
            "did not find expected key at line 12 column 1, while parsing a block mapping at line 10 column 1"
        );
        assert_eq!(shift_lines("no line here", 3), "no line here");
        assert_eq!(shift_lines("deadline x", 3), "deadline x");
    }
}
