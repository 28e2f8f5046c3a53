use clap::Parser;
use guestbook::{cli::Cli, logging, settings::Settings};

#[actix_web::main]
async fn main() -> std::process::ExitCode {
    // A missing .env is normal; a broken one is not.
    if let Err(err) = dotenvy::dotenv()
        && !err.not_found()
    {
        eprintln!("error: cannot read .env: {err}");
        return std::process::ExitCode::FAILURE;
    }
    let cli = Cli::parse();
    logging::init();
    let result = match Settings::from_env() {
        Ok(settings) => guestbook::cli::run(cli, settings).await,
        Err(err) => Err(err.into()),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
