//! Software classification on PostgreSQL: the SQLite engine's
//! (`classification.rs`) statements in PostgreSQL's spelling, flags bound
//! and read as the schema's 0/1 integers. The instance a row names is
//! locked (`FOR UPDATE`) for the rest of the call's transaction: two calls
//! classifying one instance at once apply one after the other, as SQLite's
//! single writer does.

use super::PgStore;
use crate::{now_ms, ClassifyRequest, ComputerRef, InstanceRef, Result, RowOutcome};
use serde_json::json;
use sqlx::Row;

#[derive(Debug)]
struct Current {
    id: i64,
    computer_id: i64,
    component_id: String,
    product_id: Option<String>,
    is_charged: bool,
    bundling_rule: Option<i64>,
}

async fn find(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    r: &InstanceRef,
) -> Result<std::result::Result<Current, String>> {
    const COLS: &str = concat!(
        "SELECT i.id, i.computer_id, i.component_id, i.product_id, i.is_charged,
        i.bundling_rule, i.is_present FROM software_instances i
        JOIN computers c ON c.id = i.computer_id WHERE c.published = 1 AND ",
        visible_instance!()
    );
    let rows = match r {
        InstanceRef::Id(id) => {
            sqlx::query(&format!("{COLS} AND i.id = $1 FOR UPDATE OF i"))
                .bind(id)
                .fetch_all(&mut **tx)
                .await?
        }
        InstanceRef::Component {
            computer,
            component_id,
            discovery_path,
        } => {
            let (cond, id, dns) = match computer {
                ComputerRef::Id(id) => ("c.id = $1", Some(*id), None),
                ComputerRef::DnsName(n) => ("lower(c.dns_name) = lower($1)", None, Some(n.clone())),
            };
            let sql = format!(
                "{COLS} AND {cond} AND i.component_id = $2
                   AND ($3::TEXT IS NULL OR i.discovery_path = $3)
                 ORDER BY i.is_present DESC, i.id FOR UPDATE OF i"
            );
            let mut q = sqlx::query(&sql);
            q = match (id, dns) {
                (Some(id), _) => q.bind(id),
                (None, dns) => q.bind(dns),
            };
            q.bind(component_id)
                .bind(discovery_path)
                .fetch_all(&mut **tx)
                .await?
        }
    };
    // Named by computer and component: the present instance wins over
    // history rows of the same component; two computers (a DNS name used
    // twice) or two present paths are ambiguous.
    let rows: Vec<_> = if matches!(r, InstanceRef::Component { .. }) && rows.len() > 1 {
        let computers: std::collections::HashSet<i64> = rows
            .iter()
            .filter_map(|r| r.try_get::<i64, _>(1).ok())
            .collect();
        if computers.len() > 1 {
            return Ok(Err(
                "computer is ambiguous: several computers have that DNS name; name it by computer_id or instance_id".into(),
            ));
        }
        if rows
            .iter()
            .any(|r| r.try_get::<i64, _>(6).unwrap_or(0) != 0)
        {
            rows.into_iter()
                .filter(|r| r.try_get::<i64, _>(6).unwrap_or(0) != 0)
                .collect()
        } else {
            rows
        }
    } else {
        rows
    };
    match rows.as_slice() {
        [] => Ok(Err("instance not found".into())),
        [r] => Ok(Ok(Current {
            id: r.try_get(0)?,
            computer_id: r.try_get(1)?,
            component_id: r.try_get(2)?,
            product_id: r.try_get(3)?,
            is_charged: r.try_get::<i64, _>(4)? != 0,
            bundling_rule: r.try_get(5)?,
        })),
        _ => Ok(Err(
            "instance is ambiguous: the component is in several discovery paths on that computer; name it by instance_id or add discovery_path".into(),
        )),
    }
}

#[allow(clippy::too_many_arguments)]
async fn audit(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    now: i64,
    user: &str,
    action: &str,
    c: &Current,
    product_id: Option<&str>,
    comment: Option<&str>,
    details: serde_json::Value,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO classification_audit (at, user_name, action, instance_id, computer_id,
           component_id, product_id, comment, details)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(now)
    .bind(user)
    .bind(action)
    .bind(c.id)
    .bind(c.computer_id)
    .bind(&c.component_id)
    .bind(product_id)
    .bind(comment)
    .bind(details.to_string())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// An exclusion (per product) or a suppression (per component) on a computer.
#[derive(Clone, Copy)]
enum Lift {
    Exclusion,
    Suppression,
}

/// Includes a product back or unsuppresses a component on a computer: the
/// row goes, and the assignments it covered become unconfirmed (ILMT's
/// rule). Returns the instances it unconfirmed.
async fn lift(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    what: Lift,
    computer_id: i64,
    key: &str,
) -> Result<Vec<i64>> {
    let (table, column) = match what {
        Lift::Exclusion => ("software_exclusions", "product_id"),
        Lift::Suppression => ("software_suppressions", "component_id"),
    };
    sqlx::query(&format!(
        "DELETE FROM {table} WHERE computer_id = $1 AND {column} = $2"
    ))
    .bind(computer_id)
    .bind(key)
    .execute(&mut **tx)
    .await?;
    Ok(sqlx::query_scalar(&format!(
        "UPDATE software_instances SET is_confirmed = 0
         WHERE computer_id = $1 AND {column} = $2 AND is_confirmed = 1 RETURNING id"
    ))
    .bind(computer_id)
    .bind(key)
    .fetch_all(&mut **tx)
    .await?)
}

/// Applies one row inside the transaction.
async fn apply(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    now: i64,
    user: &str,
    target: &InstanceRef,
    req: &ClassifyRequest,
    touched: &mut std::collections::BTreeSet<String>,
) -> Result<RowOutcome> {
    let c = match find(tx, target).await? {
        Ok(c) => c,
        Err(reason) => return Ok(RowOutcome::Invalid { reason }),
    };
    // The products whose licence values this row may change (before and
    // after a reassignment).
    touched.extend(c.product_id.iter().chain(req.product_id.iter()).cloned());
    let comment = req
        .comment
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty());
    let mut actions = Vec::new();

    // 1. Assignment.
    let mut product = c.product_id.clone();
    if let Some(pid) = &req.product_id {
        let found: Option<(Option<String>, i64)> =
            sqlx::query_as("SELECT metric, in_catalog FROM inventory_products WHERE id = $1")
                .bind(pid)
                .fetch_optional(&mut **tx)
                .await?;
        let Some((metric, _)) = found else {
            return Ok(RowOutcome::Invalid {
                reason: "product not found".into(),
            });
        };
        if let Some(expected) = &req.metric {
            if expected.as_deref() != metric.as_deref() {
                return Ok(RowOutcome::Invalid {
                    reason: "metric_id does not match the product's metric".into(),
                });
            }
        }
        let option_charged: Option<i64> = sqlx::query_scalar(
            "SELECT charged FROM inventory_bundling_options WHERE component_id = $1 AND product_id = $2",
        )
        .bind(&c.component_id)
        .bind(pid)
        .fetch_optional(&mut **tx)
        .await?;
        let option_charged = option_charged.map(|c| c != 0);
        // Unsaid, `is_charged` stays as it is for the same product; for
        // another product it is the catalog relation's (true for a custom one).
        let charged = req
            .charged
            .unwrap_or(if c.product_id.as_deref() == Some(pid.as_str()) {
                c.is_charged
            } else {
                option_charged.unwrap_or(true)
            });
        if c.product_id.as_deref() != Some(pid.as_str()) || c.is_charged != charged {
            sqlx::query(
                "UPDATE software_instances SET product_id = $1, is_charged = $2, bundling_rule = 1,
                   bundling_details = $3 WHERE id = $4",
            )
            .bind(pid)
            .bind(i64::from(charged))
            .bind(
                json!({"assignedBy": user, "customRelation": option_charged.is_none()}).to_string(),
            )
            .bind(c.id)
            .execute(&mut **tx)
            .await?;
            audit(
                tx,
                now,
                user,
                "assign",
                &c,
                Some(pid),
                comment,
                json!({"before": {"product_release_guid": c.product_id, "is_charged": c.is_charged, "bundling_rule": c.bundling_rule},
                       "after": {"product_release_guid": pid, "is_charged": charged, "bundling_rule": 1}}),
            )
            .await?;
            actions.push("Bundled");
            product = Some(pid.clone());
        }
    } else if req.charged.is_some_and(|ch| ch != c.is_charged) {
        return Ok(RowOutcome::Invalid {
            reason: "is_charged changes only with an assignment (product_release_guid)".into(),
        });
    }

    // 2. Exclusion (per product per computer).
    if let Some(exclude) = req.excluded {
        let existing: Option<String> = match &product {
            Some(p) => sqlx::query_scalar(
                "SELECT comment FROM software_exclusions WHERE computer_id = $1 AND product_id = $2",
            )
            .bind(c.computer_id)
            .bind(p)
            .fetch_optional(&mut **tx)
            .await?,
            None => None,
        };
        match (exclude, &product, existing) {
            (true, None, _) => {
                return Ok(RowOutcome::Invalid {
                    reason: "instance has no product to exclude".into(),
                })
            }
            (true, Some(_), Some(_)) => {}
            (true, Some(p), None) => {
                let Some(text) = comment else {
                    return Ok(RowOutcome::Invalid {
                        reason: "exclusion_or_suppress_comment is required to exclude".into(),
                    });
                };
                sqlx::query(
                    "INSERT INTO software_exclusions (computer_id, product_id, comment, set_by, set_at)
                     VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(c.computer_id)
                .bind(p)
                .bind(text)
                .bind(user)
                .bind(now)
                .execute(&mut **tx)
                .await?;
                audit(tx, now, user, "exclude", &c, Some(p), Some(text), json!({})).await?;
                actions.push("Excluded");
            }
            (false, Some(p), Some(old)) => {
                let unconfirmed = lift(tx, Lift::Exclusion, c.computer_id, p).await?;
                audit(
                    tx,
                    now,
                    user,
                    "include",
                    &c,
                    Some(p),
                    comment,
                    json!({"before": {"comment": old}, "unconfirmed_instances": unconfirmed}),
                )
                .await?;
                actions.push("Included");
            }
            (false, _, _) => {}
        }
    }

    // 3. Suppression (per component per computer).
    if let Some(suppress) = req.suppressed {
        let existing: Option<String> = sqlx::query_scalar(
            "SELECT comment FROM software_suppressions WHERE computer_id = $1 AND component_id = $2",
        )
        .bind(c.computer_id)
        .bind(&c.component_id)
        .fetch_optional(&mut **tx)
        .await?;
        match (suppress, existing) {
            (true, None) => {
                let text = comment.unwrap_or("");
                sqlx::query(
                    "INSERT INTO software_suppressions (computer_id, component_id, comment, set_by, set_at)
                     VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(c.computer_id)
                .bind(&c.component_id)
                .bind(text)
                .bind(user)
                .bind(now)
                .execute(&mut **tx)
                .await?;
                audit(
                    tx,
                    now,
                    user,
                    "suppress",
                    &c,
                    product.as_deref(),
                    comment,
                    json!({}),
                )
                .await?;
                actions.push("Suppressed");
            }
            (false, Some(old)) => {
                let unconfirmed =
                    lift(tx, Lift::Suppression, c.computer_id, &c.component_id).await?;
                audit(
                    tx,
                    now,
                    user,
                    "unsuppress",
                    &c,
                    product.as_deref(),
                    comment,
                    json!({"before": {"comment": old}, "unconfirmed_instances": unconfirmed}),
                )
                .await?;
                actions.push("Unsuppressed");
            }
            _ => {}
        }
    }

    // 4. Confirmation (after the rest: an include/unsuppress unconfirms).
    if let Some(confirm) = req.confirmed {
        let now_confirmed: i64 =
            sqlx::query_scalar("SELECT is_confirmed FROM software_instances WHERE id = $1")
                .bind(c.id)
                .fetch_one(&mut **tx)
                .await?;
        let now_confirmed = now_confirmed != 0;
        if confirm != now_confirmed {
            if confirm && product.is_none() {
                return Ok(RowOutcome::Invalid {
                    reason: "instance has no product to confirm".into(),
                });
            }
            sqlx::query("UPDATE software_instances SET is_confirmed = $1 WHERE id = $2")
                .bind(i64::from(confirm))
                .bind(c.id)
                .execute(&mut **tx)
                .await?;
            let action = if confirm { "confirm" } else { "unconfirm" };
            audit(
                tx,
                now,
                user,
                action,
                &c,
                product.as_deref(),
                comment,
                json!({}),
            )
            .await?;
            actions.push(if confirm { "Confirmed" } else { "Unconfirmed" });
        }
    }
    Ok(if actions.is_empty() {
        RowOutcome::Unmodified { instance_id: c.id }
    } else {
        RowOutcome::Modified {
            instance_id: c.id,
            actions,
        }
    })
}

impl PgStore {
    pub async fn classify(
        &self,
        user: &str,
        rows: &[std::result::Result<(InstanceRef, ClassifyRequest), String>],
        simulate: bool,
    ) -> Result<Vec<RowOutcome>> {
        let now = now_ms();
        let mut tx = self.tx().await?;
        let mut out = Vec::with_capacity(rows.len());
        let mut touched = std::collections::BTreeSet::new();
        for row in rows {
            out.push(match row {
                Err(reason) => RowOutcome::Invalid {
                    reason: reason.clone(),
                },
                Ok((target, req)) => {
                    // A savepoint per row: an invalid row found half way
                    // leaves nothing behind.
                    sqlx::query("SAVEPOINT classify_row")
                        .execute(&mut *tx)
                        .await?;
                    let o = apply(&mut tx, now, user, target, req, &mut touched).await?;
                    let end = if matches!(o, RowOutcome::Invalid { .. }) {
                        "ROLLBACK TO SAVEPOINT classify_row"
                    } else {
                        "RELEASE SAVEPOINT classify_row"
                    };
                    sqlx::query(end).execute(&mut *tx).await?;
                    if matches!(o, RowOutcome::Invalid { .. }) {
                        sqlx::query("RELEASE SAVEPOINT classify_row")
                            .execute(&mut *tx)
                            .await?;
                    }
                    o
                }
            });
        }
        if simulate {
            tx.rollback().await?;
        } else {
            if out.iter().any(|o| !matches!(o, RowOutcome::Invalid { .. })) {
                // Classification is retroactive: every stored day of the
                // products touched is recomputed, in this transaction.
                super::license::recompute_products_in(
                    &mut tx,
                    self.calculator().as_deref(),
                    &touched,
                )
                .await?;
            }
            super::imports::bump_generation(&mut tx).await?;
            tx.commit().await?;
        }
        Ok(out)
    }
}
