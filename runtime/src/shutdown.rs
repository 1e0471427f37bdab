use tokio::signal;

/// Resolves on Ctrl-C or SIGTERM, the two ways a terminal or an orchestrator asks a process to stop.
pub async fn signal() {
    let ctrl_c = async {
        if let Err(e) = signal::ctrl_c().await {
            tracing::error!(error = %e, "Could not listen for Ctrl-C.");
            std::future::pending::<()>().await;
        }
    };
    let terminate = async {
        match signal::unix::signal(signal::unix::SignalKind::terminate()) {
            Ok(mut sigterm) => {
                sigterm.recv().await;
            }
            Err(e) => {
                tracing::error!(error = %e, "Could not listen for SIGTERM.");
                std::future::pending::<()>().await;
            }
        }
    };
    tokio::select! {
        () = ctrl_c => tracing::info!("Received Ctrl-C, shutting down."),
        () = terminate => tracing::info!("Received SIGTERM, shutting down."),
    }
}
