use std::process::ExitCode;

use clap::Parser;

// Parsing manifests allocates many small objects; mimalloc halves the cost of that.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "portcullis=info,tower_http=warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    // kube's rustls client needs one process-wide crypto provider.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let cli = portcullis::cli::Cli::parse();
    // `check` is a short CI run: one thread is enough and starts faster (it
    // reads files on every core by itself).
    let mut builder = if matches!(cli.command, portcullis::cli::Command::Check { .. }) {
        tokio::runtime::Builder::new_current_thread()
    } else {
        tokio::runtime::Builder::new_multi_thread()
    };
    let runtime = match builder.enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::from(2);
        }
    };
    let code = match runtime.block_on(portcullis::cli::run(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    };
    // Dropping the runtime would wait for every blocking task without end;
    // what matters was awaited by `run`.
    runtime.shutdown_timeout(std::time::Duration::from_secs(1));
    code
}
