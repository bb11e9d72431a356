//! `openlmt user …` and `openlmt token …`: administration straight on the
//! database, safe while the server runs (it notices within a second).

use crate::config::{self, FileConfig};
use crate::DataDirArgs;
use anyhow::{bail, Context};
use clap::Subcommand;
use openlmt_domain::{Permission, PermissionSet};
use std::io::Read;
use std::process::ExitCode;

#[derive(Subcommand)]
pub enum UserCommand {
    /// Add a user; the password is read from standard input.
    Add {
        name: String,
        /// Read the password from standard input (required: passwords are never flags).
        #[arg(long, required = true)]
        password_stdin: bool,
        /// A permission to grant; repeat for several. One of: manage_imports,
        /// upload_scan_results, view_endpoints, view_raw_data, view_software,
        /// manage_software_classification, or `all`.
        #[arg(long = "permission")]
        permissions: Vec<String>,
        #[command(flatten)]
        dir: DataDirArgs,
    },
    /// List users and their permissions.
    List {
        #[command(flatten)]
        dir: DataDirArgs,
    },
    /// Remove a user and all of their tokens.
    Remove {
        name: String,
        #[command(flatten)]
        dir: DataDirArgs,
    },
    /// Change a user's password, read from standard input.
    Password {
        name: String,
        #[arg(long, required = true)]
        password_stdin: bool,
        #[command(flatten)]
        dir: DataDirArgs,
    },
    /// Replace a user's permissions.
    Permissions {
        name: String,
        #[arg(long = "permission")]
        permissions: Vec<String>,
        #[command(flatten)]
        dir: DataDirArgs,
    },
}

#[derive(Subcommand)]
pub enum TokenCommand {
    /// List tokens (their public ids, never the secrets).
    List {
        #[arg(long)]
        user: Option<String>,
        #[command(flatten)]
        dir: DataDirArgs,
    },
    /// Revoke one token (by its id, the first 16 characters of the token)
    /// or all tokens of a user.
    Revoke {
        /// The token id (or the whole token).
        id: Option<String>,
        #[arg(long)]
        user: Option<String>,
        #[command(flatten)]
        dir: DataDirArgs,
    },
}

fn parse_permissions(list: &[String]) -> anyhow::Result<PermissionSet> {
    let mut set = PermissionSet::empty();
    for p in list {
        if p == "all" {
            return Ok(PermissionSet::all());
        }
        set.insert(p.parse::<Permission>()?);
    }
    Ok(set)
}

fn read_password() -> anyhow::Result<String> {
    let mut s = String::new();
    std::io::stdin()
        .take(4096)
        .read_to_string(&mut s)
        .context("cannot read the password from standard input")?;
    let pw = s.strip_suffix('\n').unwrap_or(&s);
    let pw = pw.strip_suffix('\r').unwrap_or(pw);
    if pw.is_empty() {
        bail!("no password on standard input");
    }
    Ok(pw.to_string())
}

pub(crate) async fn store(dir: &DataDirArgs) -> anyhow::Result<openlmt_storage::Store> {
    let file = FileConfig::load(dir.config.as_deref())?;
    let data_dir = config::data_dir(dir.data_dir.as_ref(), &file);
    let url = config::database_url(dir.database_url.as_ref(), &file, &data_dir)?;
    config::open_store(&data_dir, &url).await
}

pub async fn run_user(cmd: UserCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        UserCommand::Add {
            name,
            permissions,
            dir,
            ..
        } => {
            let perms = parse_permissions(&permissions)?;
            let pw = read_password()?;
            let u = store(&dir).await?.create_user(&name, &pw, perms).await?;
            println!("added user {} with permissions [{}]", u.name, u.permissions);
        }
        UserCommand::List { dir } => {
            for u in store(&dir).await?.list_users().await? {
                println!(
                    "{}\t{}\t{}",
                    u.name,
                    u.permissions,
                    openlmt_domain::time::format_utc(u.created_at)
                );
            }
        }
        UserCommand::Remove { name, dir } => {
            if !store(&dir).await?.remove_user(&name).await? {
                bail!("there is no user `{name}`");
            }
            println!("removed user {name} and revoked their tokens");
        }
        UserCommand::Password { name, dir, .. } => {
            let pw = read_password()?;
            if !store(&dir).await?.set_password(&name, &pw).await? {
                bail!("there is no user `{name}`");
            }
            println!("changed the password of {name}");
        }
        UserCommand::Permissions {
            name,
            permissions,
            dir,
        } => {
            let perms = parse_permissions(&permissions)?;
            if !store(&dir).await?.set_permissions(&name, perms).await? {
                bail!("there is no user `{name}`");
            }
            println!("{name} now has permissions [{perms}]");
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn run_token(cmd: TokenCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        TokenCommand::List { user, dir } => {
            for t in store(&dir).await?.list_tokens(user.as_deref()).await? {
                println!(
                    "{}\t{}\t{}",
                    t.id,
                    t.user,
                    openlmt_domain::time::format_utc(t.created_at)
                );
            }
        }
        TokenCommand::Revoke { id, user, dir } => {
            if id.is_none() && user.is_none() {
                bail!("name a token id or --user");
            }
            let id = id.map(|i| i.chars().take(16).collect::<String>());
            let n = store(&dir)
                .await?
                .revoke_tokens(id.as_deref(), user.as_deref())
                .await?;
            println!("revoked {n} token(s)");
        }
    }
    Ok(ExitCode::SUCCESS)
}
