//! Embeds the demo cluster (`seed/`) and the front-end files (`static/`) in the
//! binary, so `portcullis serve` works from any directory.

use std::fmt::Write as _;
use std::path::Path;

fn files(dir: &Path, exts: &[&str]) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(files(&p, exts));
            } else if p
                .extension()
                .and_then(|x| x.to_str())
                .is_some_and(|x| exts.contains(&x))
            {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let seed = root.join("seed");
    let stat = root.join("static");
    println!("cargo:rerun-if-changed={}", seed.display());
    println!("cargo:rerun-if-changed={}", stat.display());

    let mut code = String::from(
        "/// The demo cluster: (file name, YAML text).\npub static SEED: &[(&str, &str)] = &[\n",
    );
    for f in files(&seed, &["yaml", "yml", "json"]) {
        println!("cargo:rerun-if-changed={}", f.display());
        let rel = f.strip_prefix(&root).unwrap_or(&f).display().to_string();
        let _ = writeln!(
            code,
            "    ({rel:?}, include_str!({:?})),",
            f.display().to_string()
        );
    }
    code.push_str("];\n\n/// Front-end files: (name under /static/, bytes).\npub static STATIC: &[(&str, &[u8])] = &[\n");
    for f in files(&stat, &["js", "css", "svg", "png", "ico"]) {
        println!("cargo:rerun-if-changed={}", f.display());
        let rel = f.strip_prefix(&stat).unwrap_or(&f).display().to_string();
        let _ = writeln!(
            code,
            "    ({rel:?}, include_bytes!({:?})),",
            f.display().to_string()
        );
    }
    code.push_str("];\n");
    let out =
        Path::new(&std::env::var("OUT_DIR").expect("OUT_DIR is set by cargo")).join("embedded.rs");
    std::fs::write(out, code).expect("write embedded.rs");
}
