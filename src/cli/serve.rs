//! `guestbook serve` (the default command): the site, until a signal stops it.

use std::net::SocketAddr;

use crate::{settings::Settings, startup::Application};

/// Serves the site on `bind` (or `BIND_ADDR`), applying pending migrations first with
/// `migrate`, until SIGINT or SIGTERM.
///
/// # Errors
/// When the application cannot be built or bound, or the server fails.
pub async fn serve(
    mut settings: Settings,
    bind: Option<SocketAddr>,
    migrate: bool,
) -> anyhow::Result<()> {
    if let Some(bind) = bind {
        settings.bind_addr = bind;
    }
    let app = Application::build(settings, migrate)?;
    let state = app.state();
    tracing::info!(
        address = %format!("http://{}:{}", state.settings.bind_addr.ip(), app.port()),
        engine = ?state.settings.session.engine,
        "serving the guestbook"
    );
    app.run_until_signalled().await?;
    tracing::info!("stopped");
    Ok(())
}
