//! `openlmt import run|status`: a client of a running server's import API.

use anyhow::{bail, Context};
use clap::Subcommand;
use indicatif::{ProgressBar, ProgressStyle};
use openlmt_server::wire::{ImportDetailJson, ImportStatusBody};
use serde_json::Value;
use std::process::ExitCode;
use std::time::Duration;

#[derive(clap::Args, Clone, Debug)]
pub struct ServerArgs {
    /// Server URL.
    #[arg(long, env = "OPENLMT_URL", default_value = "http://127.0.0.1:9081")]
    url: String,
    /// API token (from POST /api/get_token).
    #[arg(long, env = "OPENLMT_TOKEN", hide_env_values = true)]
    token: String,
}

#[derive(Subcommand)]
pub enum ImportCommand {
    /// Start an import (complete unless --raw-only).
    Run {
        /// Import the raw data only.
        #[arg(long)]
        raw_only: bool,
        /// Wait for the import to end, with a progress bar; exit 0 only if it succeeded.
        #[arg(long)]
        wait: bool,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Print the import status (the JSON of /api/import_status.json).
    Status {
        #[command(flatten)]
        server: ServerArgs,
    },
}

struct Client {
    http: reqwest::Client,
    base: String,
    token: String,
}

impl Client {
    fn new(s: &ServerArgs) -> anyhow::Result<Client> {
        Ok(Client {
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()?,
            base: s.url.trim_end_matches('/').to_string(),
            token: s.token.clone(),
        })
    }

    async fn get(&self, path: &str) -> anyhow::Result<Value> {
        Ok(self.get_with_import_id(path).await?.0)
    }

    /// GETs a path; also returns the `X-OpenLMT-Import-Id` header (the
    /// pending or running import), if any.
    async fn get_with_import_id(&self, path: &str) -> anyhow::Result<(Value, Option<i64>)> {
        let resp = self
            .http
            .get(format!("{}{path}", self.base))
            .header("Token", &self.token)
            .header("X-OpenLMT-Trigger", "cli")
            .send()
            .await
            .with_context(|| format!("cannot reach the server at {}", self.base))?;
        let status = resp.status();
        let import_id = resp
            .headers()
            .get("x-openlmt-import-id")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok());
        let body: Value = resp
            .json()
            .await
            .context("the server's answer is not JSON")?;
        if !status.is_success() {
            bail!(
                "{status}: {}",
                body["error"].as_str().unwrap_or("(no message)")
            );
        }
        Ok((body, import_id))
    }
}

pub async fn run(cmd: ImportCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        ImportCommand::Status { server } => {
            let c = Client::new(&server)?;
            println!(
                "{}",
                serde_json::to_string_pretty(&c.get("/api/import_status.json").await?)?
            );
            Ok(ExitCode::SUCCESS)
        }
        ImportCommand::Run {
            raw_only,
            wait,
            server,
        } => {
            let c = Client::new(&server)?;
            let run = if raw_only { "raw_only" } else { "true" };
            let (status, active) = c
                .get_with_import_id(&format!("/api/import_status.json?run={run}"))
                .await?;
            let Some(id) = active else {
                bail!("the server registered no import");
            };
            // The server's own wire type: a renamed field breaks this build.
            let status: ImportStatusBody = serde_json::from_value(status)
                .context("the server's status is not the import status")?;
            println!("import {id}: {}", status.mode);
            if !wait {
                return Ok(ExitCode::SUCCESS);
            }
            let bar = ProgressBar::new(100);
            bar.set_style(
                ProgressStyle::with_template("{bar:40} {pos:>3}% {msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            loop {
                let imp: ImportDetailJson =
                    serde_json::from_value(c.get(&format!("/api/imports/{id}")).await?)
                        .context("the server's answer is not an import")?;
                let st = imp.import.status.as_str();
                bar.set_position(u64::from(imp.import.progress));
                bar.set_message(imp.current_step.flatten().unwrap_or_else(|| st.to_string()));
                if !matches!(st, "pending" | "running") {
                    bar.finish_and_clear();
                    let err = imp
                        .import
                        .error
                        .as_deref()
                        .map(|e| format!(": {e}"))
                        .unwrap_or_default();
                    println!("import {id} {st}{err}");
                    return Ok(if st == "successful" {
                        ExitCode::SUCCESS
                    } else {
                        ExitCode::FAILURE
                    });
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
    }
}
