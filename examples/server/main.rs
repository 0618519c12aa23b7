//! A runnable identity server on idcore: an OpenID Connect provider with a hosted login page,
//! wired into axum. Copy from it; every handler is a thin adapter around `idcore::protocol` and
//! the services.
//!
//! ```text
//! cargo run --example server                                   # embedded store, 127.0.0.1:8080
//! cargo run --example server -- --addr 127.0.0.1:9000
//! cargo run --example server --features sqlite -- --sqlite idcore.db
//! cargo run --example server --features postgres -- --postgres postgres://postgres@127.0.0.1/test
//! ```
//!
//! `IDCORE_ADDR` sets the address too. `IDCORE_KEK` (64 hex characters) is the key that
//! encrypts the signing keys at rest; without it a fixed development key is used, and the
//! server says so. On first start it creates a demo organization, application and user and
//! prints how to sign in.

mod app;
mod demo;

use std::net::SocketAddr;
use std::sync::Arc;

use idcore::mail::MemoryOutbox;
use idcore::store::Store;
use idcore::tokens::keys::EncryptionKey;
use idcore::{Environment, Identity, MemoryStore};

/// What the command line asked for.
struct Options {
    addr: SocketAddr,
    sqlite: Option<String>,
    postgres: Option<String>,
}

fn options() -> Result<Options, String> {
    let mut addr = std::env::var("IDCORE_ADDR").unwrap_or_else(|_| "127.0.0.1:8080".to_owned());
    let (mut sqlite, mut postgres) = (None, None);
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or(format!("{arg} needs a value"));
        match arg.as_str() {
            "--addr" => addr = value()?,
            "--sqlite" => sqlite = Some(value()?),
            "--postgres" => postgres = Some(value()?),
            other => return Err(format!("unknown argument {other}")),
        }
    }
    let addr = addr
        .parse()
        .map_err(|_| format!("{addr} is not an address such as 127.0.0.1:8080"))?;
    Ok(Options {
        addr,
        sqlite,
        postgres,
    })
}

fn key_encryption_key() -> Result<EncryptionKey, String> {
    let bytes = match std::env::var("IDCORE_KEK") {
        Ok(hex) => (0..hex.len())
            .step_by(2)
            .map(|i| {
                hex.get(i..i + 2)
                    .and_then(|b| u8::from_str_radix(b, 16).ok())
            })
            .collect::<Option<Vec<u8>>>()
            .ok_or("IDCORE_KEK must be 64 hex characters")?,
        Err(_) => {
            eprintln!(
                "warning: IDCORE_KEK is not set; signing keys are encrypted with a fixed development key"
            );
            vec![0x42; 32]
        }
    };
    EncryptionKey::from_bytes(&bytes).map_err(|_| "IDCORE_KEK must be 32 bytes".to_owned())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let options = options()?;
    let issuer = format!("http://{}", options.addr);
    let outbox = MemoryOutbox::new();
    let builder = Identity::builder()
        .issuer(issuer.clone())
        .environment(Environment::Sandbox)
        .key_encryption_key(key_encryption_key()?)
        .mailer(outbox.clone());
    if let Some(path) = &options.sqlite {
        #[cfg(feature = "sqlite")]
        {
            let store = idcore::store::sqlite::SqliteStore::open(path).await?;
            store.migrate().await?;
            return serve(builder.store(store).build()?, outbox, options.addr).await;
        }
        #[cfg(not(feature = "sqlite"))]
        return Err(format!("--sqlite {path} needs `--features sqlite`").into());
    }
    if let Some(url) = &options.postgres {
        #[cfg(feature = "postgres")]
        {
            use idcore::store::postgres::deadpool_postgres::{Config, Runtime};
            use idcore::store::postgres::tokio_postgres::NoTls;
            let mut config = Config::new();
            config.url = Some(url.clone());
            let pool = config.create_pool(Some(Runtime::Tokio1), NoTls)?;
            let store = idcore::store::postgres::PostgresStore::new(pool);
            store.migrate().await?;
            return serve(builder.store(store).build()?, outbox, options.addr).await;
        }
        #[cfg(not(feature = "postgres"))]
        return Err(format!("--postgres {url} needs `--features postgres`").into());
    }
    serve(
        builder.store(MemoryStore::new()).build()?,
        outbox,
        options.addr,
    )
    .await
}

async fn serve<S: Store + 'static>(
    identity: Identity<S>,
    outbox: MemoryOutbox,
    addr: SocketAddr,
) -> Result<(), Box<dyn std::error::Error>> {
    let demo = demo::ensure(&identity, &outbox).await?;
    let state = Arc::new(app::App::new(identity, outbox));
    let listener = tokio::net::TcpListener::bind(addr).await?;
    println!("idcore server listening on http://{addr}");
    demo.print(&format!("http://{addr}"));
    app::serve(listener, state).await?;
    Ok(())
}
