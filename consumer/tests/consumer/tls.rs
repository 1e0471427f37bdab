//! An `https://` API_URL: the api behind a TLS terminator whose certificate an internal CA
//! signed. A consumer given that CA in `API_CA_FILE` forwards through it; one without it
//! cannot complete a handshake, and holds its messages back rather than dead-lettering them.

use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use slipstream_devkit::free_port;
use slipstream_devkit::tls::throwaway_certificates;
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;

use crate::helpers::{three_users, Setup};

/// A throwaway CA's certificate (PEM) and a server certificate it signed for `localhost`,
/// as a rustls server configuration.
fn authority_and_server() -> (String, rustls::ServerConfig) {
    let made = throwaway_certificates(&["localhost"]).expect("certificates");
    let chain = CertificateDer::pem_slice_iter(made.certificate_pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .expect("the certificate");
    let key = PrivateKeyDer::from_pem_slice(made.key_pem.as_bytes()).expect("the key");
    // The provider the crate features give (ring, as reqwest's), as the consumer's own.
    let config = rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .expect("a server configuration");
    (made.ca_pem, config)
}

/// Terminates TLS on `listener` and passes each connection's bytes to the api on `api_port`.
async fn terminate_tls(listener: TcpListener, config: rustls::ServerConfig, api_port: u16) {
    let acceptor = TlsAcceptor::from(Arc::new(config));
    loop {
        let Ok((client, _)) = listener.accept().await else {
            continue;
        };
        let acceptor = acceptor.clone();
        tokio::spawn(async move {
            let Ok(mut client) = acceptor.accept(client).await else {
                return;
            };
            if let Ok(mut api) = TcpStream::connect(("127.0.0.1", api_port)).await {
                let _ = tokio::io::copy_bidirectional(&mut client, &mut api).await;
            }
        });
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_https_api_url_signed_by_the_given_ca_is_forwarded_to_and_without_it_nothing_is_lost() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (ca_pem, server) = authority_and_server();
    let ca_file = dir.path().join("ca.pem");
    std::fs::write(&ca_file, ca_pem).expect("CA written");
    let tls_port = free_port();
    let listener = TcpListener::bind(("127.0.0.1", tls_port))
        .await
        .expect("the TLS port is free");
    let https = format!("https://localhost:{tls_port}");
    let ca_file = ca_file.display().to_string();

    // Without the CA: the handshake fails, which is no verdict on a record.
    let untrusting = Setup::start("users", &[("API_URL", &https)]).await;
    // With it.
    let mut trusting =
        Setup::start("users", &[("API_URL", &https), ("API_CA_FILE", &ca_file)]).await;
    // Both consumers' records go to the trusting one's api: it is what the terminator fronts.
    tokio::spawn(terminate_tls(listener, server, trusting.api_port));
    trusting.start_api().await;
    trusting.write_json(&three_users());
    trusting.wait_three_users_flow().await;

    untrusting.write_json(&three_users());
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(untrusting.committed(), 0, "committed without a handshake");
    assert_eq!(untrusting.dead_letter_count(), 0, "dead-lettered for TLS");
}
