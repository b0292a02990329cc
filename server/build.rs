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
    // Read at run time, not compiled in with `env!`: a build script binary that
    // cargo reuses for a checkout elsewhere must still read this checkout's files.
    let manifest_dir =
        std::env::var("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR is set by cargo");
    let root = Path::new(&manifest_dir).join("..");
    let seed = root.join("seed");
    let stat = root.join("static");
    println!("cargo:rerun-if-changed={}", seed.display());
    println!("cargo:rerun-if-changed={}", stat.display());

    let mut code = String::from(
        "/// The demo cluster: (file name, YAML text).\npub static SEED: &[(&str, &str)] = &[\n",
    );
    let seed_files = files(&seed, &["yaml", "yml", "json"]);
    assert!(
        !seed_files.is_empty(),
        "no demo cluster manifests in {}",
        seed.display()
    );
    for f in seed_files {
        println!("cargo:rerun-if-changed={}", f.display());
        let rel = f.strip_prefix(&root).unwrap_or(&f).display().to_string();
        let _ = writeln!(
            code,
            "    ({rel:?}, include_str!({:?})),",
            f.display().to_string()
        );
    }
    code.push_str("];\n\n/// Front-end files: (name under /static/, bytes).\npub static STATIC: &[(&str, &[u8])] = &[\n");
    let static_files = files(&stat, &["js", "css", "svg", "png", "ico"]);
    assert!(
        !static_files.is_empty(),
        "no front-end files in {}",
        stat.display()
    );
    for f in static_files {
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
