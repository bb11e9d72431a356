//! A TCP proxy between a test server and its PostgreSQL server, which the
//! test can cut (every connection dropped, new ones refused: the port is
//! closed) and restore (the same port listens again), as when PostgreSQL
//! stops and comes back, without touching the real server (other tests use
//! it). It runs on a tokio runtime of its own, in the test's process.
//!
//! Use: `let proxy = DbProxy::to_test_database();` then
//! `TestServer::builder().database_port(proxy.port())`.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

pub struct DbProxy {
    rt: tokio::runtime::Runtime,
    listen: SocketAddr,
    target: String,
    accept: Mutex<Option<JoinHandle<()>>>,
    /// The relays of the connections open now.
    conns: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

impl DbProxy {
    /// A proxy on a free local port to `target` (`host:port`), listening.
    pub fn start(target: &str) -> DbProxy {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let listener = rt
            .block_on(TcpListener::bind("127.0.0.1:0"))
            .expect("a local port for the proxy");
        let listen = listener.local_addr().unwrap();
        let proxy = DbProxy {
            rt,
            listen,
            target: target.to_string(),
            accept: Mutex::new(None),
            conns: Arc::default(),
        };
        proxy.serve(listener);
        proxy
    }

    /// A proxy to the PostgreSQL server of `OPENLMT_TEST_DATABASE_URL`
    /// (the tests' servers make their databases there).
    pub fn to_test_database() -> DbProxy {
        let url = std::env::var(openlmt_storage::testing::TEST_DATABASE_URL)
            .expect("OPENLMT_TEST_DATABASE_URL is set (checked by on_postgres)");
        let u = reqwest::Url::parse(&url).expect("OPENLMT_TEST_DATABASE_URL parses");
        let host = u.host_str().unwrap_or("127.0.0.1");
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let port = u.port().unwrap_or(5432);
        let target = if host.contains(':') {
            format!("[{host}]:{port}")
        } else {
            format!("{host}:{port}")
        };
        DbProxy::start(&target)
    }

    /// The local port the proxy listens on.
    pub fn port(&self) -> u16 {
        self.listen.port()
    }

    fn serve(&self, listener: TcpListener) {
        let target = self.target.clone();
        let conns = self.conns.clone();
        let task = self.rt.spawn(async move {
            loop {
                let Ok((mut client, _)) = listener.accept().await else {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                };
                let target = target.clone();
                let relay = tokio::spawn(async move {
                    if let Ok(mut server) = TcpStream::connect(&target).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                });
                let mut all = conns.lock().unwrap();
                all.retain(|c| !c.is_finished());
                all.push(relay);
            }
        });
        *self.accept.lock().unwrap() = Some(task);
    }

    /// Cuts the database off: closes the port (a new connection is
    /// refused) and drops every open connection, both ways. Returns once
    /// done.
    pub fn cut(&self) {
        let accept = self.accept.lock().unwrap().take();
        let conns = std::mem::take(&mut *self.conns.lock().unwrap());
        self.rt.block_on(async move {
            if let Some(a) = accept {
                a.abort();
                let _ = a.await;
            }
            for c in conns {
                c.abort();
                let _ = c.await;
            }
        });
    }

    /// Listens again on the same port (after [`DbProxy::cut`]).
    pub fn restore(&self) {
        assert!(
            self.accept.lock().unwrap().is_none(),
            "the proxy is not cut"
        );
        let deadline = Instant::now() + Duration::from_secs(10);
        let listener = loop {
            match self.rt.block_on(TcpListener::bind(self.listen)) {
                Ok(l) => break l,
                Err(e) => {
                    assert!(
                        Instant::now() < deadline,
                        "cannot listen on {} again: {e}",
                        self.listen
                    );
                    std::thread::sleep(Duration::from_millis(50));
                }
            }
        };
        self.serve(listener);
    }
}

impl Drop for DbProxy {
    fn drop(&mut self) {
        if let Some(a) = self.accept.lock().unwrap().take() {
            a.abort();
        }
        for c in self.conns.lock().unwrap().drain(..) {
            c.abort();
        }
    }
}
