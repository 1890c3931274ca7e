//! `crowdwire`: the CrowdWire server binary.

use clap::{Parser, Subcommand};
use tracing_subscriber::EnvFilter;

use crowdwire::config::{Config, LogFormat, ServeArgs};

/// mimalloc: the server allocates many small, short-lived buffers on every core (frames,
/// messages, packets). In an A/B of the 2,000-user walk (BENCHMARKS.md, "Media on, people
/// walking") the server used 97-100 % of a core with it against 110 % with glibc's allocator.
#[cfg(feature = "mimalloc")]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "crowdwire",
    version,
    about = "CrowdWire: 2D virtual worlds with proximity audio and video"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

// Parsed once at start: the size difference between the variants costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand)]
enum Command {
    /// Run the server (API, realtime gateway, web client).
    Serve(ServeArgs),
    /// Run a standalone media node (SFU) for replicas started with `CROWDWIRE_MEDIA_MODE=nodes`.
    Media(crowdwire::media_command::MediaArgs),
}

fn init_logging(log: &str, format: LogFormat) {
    let filter = EnvFilter::try_new(log).unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    match format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
}

async fn stop_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("installing a SIGTERM handler");
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve(args) => {
            let config = Config::resolve(args)?;
            init_logging(&config.log, config.log_format);
            let running = crowdwire::server::start(config).await?;
            stop_signal().await;
            tracing::info!("shutting down");
            running.shutdown().await?;
            tracing::info!("stopped");
        }
        Command::Media(args) => {
            init_logging(&args.log, args.log_format);
            let running = crowdwire::media_command::start(args).await?;
            tracing::info!(health = %running.health_addr, "media node serving");
            stop_signal().await;
            // A planned stop: leave the placement at once rather than after the TTL.
            running.node.deregister().await;
            tracing::info!("stopped");
        }
    }
    Ok(())
}
