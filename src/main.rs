use clap::Parser;
use yizhan::config::{Cli, Command};
use yizhan::startup::Application;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    // The service logs its start-up; a one-shot command says what it did in its own words.
    let default_filter = match cli.command {
        None | Some(Command::Serve(_)) => "info,sqlx=warn",
        Some(_) => "warn",
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| default_filter.into()),
        )
        .with_writer(std::io::stderr)
        .init();
    match cli.command {
        None => serve(cli.serve).await,
        Some(Command::Serve(args)) => serve(*args).await,
        Some(Command::Import(args)) => yizhan::cli::run_import(args).await,
        Some(Command::Export(args)) => yizhan::cli::run_export(args).await,
        Some(Command::Backup(args)) => yizhan::cli::run_backup(args).await,
        Some(Command::User(cmd)) => yizhan::cli::run_user(cmd).await,
        Some(Command::Regions(cmd)) => yizhan::cli::run_regions(cmd).await,
        Some(Command::Demand(cmd)) => yizhan::cli::run_demand(cmd).await,
        Some(Command::Coverage(args)) => yizhan::cli::run_coverage(args).await,
    }
}

async fn serve(args: yizhan::config::ServeArgs) -> anyhow::Result<()> {
    let app = Application::build(args).await?;
    tracing::info!("yizhan listening on http://{}", app.local_addr());
    app.run().await
}
