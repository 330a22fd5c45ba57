//! Rotating a node's secret in place, the way a kubelet's client
//! certificate rotates: the new secret is stored as pending (its hash, and
//! sealed) before the agent gets it, the agent saves it and says so, then it
//! is promoted and the old one stops working. Until then both open a
//! stream, so an agent that saved the new secret and died before answering
//! still gets back in (and that promotes it). An unconfirmed rotation is
//! sent again by the next, never replaced by a third secret.

use lattice_proto::v1;
use subtle::ConstantTimeEq;
use tracing::info;

use super::Fleet;
use crate::auth::tokens::{random_token, token_hash};
use crate::entity::node;
use crate::error::{Error, Result};

/// Prefix of node secrets.
pub const NODE_SECRET_PREFIX: &str = "lns_";

/// Which of a node's secrets a presented one is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Presented {
    /// The current secret.
    Current,
    /// A rotation's new secret: the agent has it saved.
    Pending,
    /// Neither.
    Unknown,
}

/// Checks a presented secret against a node's, in constant time.
pub fn check(n: &node::Model, secret: &str) -> Presented {
    let h = token_hash(secret);
    if bool::from(h.as_bytes().ct_eq(n.secret_hash.as_bytes())) {
        Presented::Current
    } else if n
        .pending_secret_hash
        .as_ref()
        .is_some_and(|p| bool::from(h.as_bytes().ct_eq(p.as_bytes())))
    {
        Presented::Pending
    } else {
        Presented::Unknown
    }
}

impl Fleet {
    /// Gives a connected node a new secret and retires the old one once the
    /// agent has saved it.
    pub async fn rotate_node_secret(&self, node_id: &str) -> Result<()> {
        let _turn = self.pushes.lock(&format!("secret/{node_id}")).await;
        let n = self
            .repo
            .node(node_id)
            .await?
            .ok_or_else(|| Error::NotFound("the node was removed".into()))?;
        if !self.is_connected(node_id) {
            return Err(Error::FailedPrecondition(format!(
                "node {} is not connected, and only its agent can save a new secret; start lattice-agentd there \
                 and try again (or `lattice nodes rm {} --force` and join it again)",
                n.name, n.name
            )));
        }
        let secret = match &n.pending_secret {
            Some(sealed) => {
                String::from_utf8(self.secrets.open(node_id, sealed)?).map_err(Error::internal)?
            }
            None => {
                let s = random_token(NODE_SECRET_PREFIX);
                let sealed = self.secrets.seal(node_id, s.as_bytes())?;
                self.repo
                    .set_pending_node_secret(node_id, &token_hash(&s), &sealed)
                    .await?;
                s
            }
        };
        let cmd = v1::control_message::Cmd::RotateSecret(v1::RotateSecret {
            node_secret: secret,
        });
        let unconfirmed = |why: String| {
            Error::Unavailable(format!(
                "node {}'s agent did not confirm its new secret ({why}); its current secret keeps working — run the \
                 rotation again",
                n.name
            ))
        };
        let r = self
            .command(node_id, cmd)
            .await
            .map_err(|e| unconfirmed(e.to_string()))?;
        if !r.ok {
            return Err(unconfirmed(r.error));
        }
        self.repo.promote_node_secret(node_id).await?;
        info!(node = %n.name, "node secret rotated");
        Ok(())
    }

    /// The node whose credentials `authorization` (`Node <id>.<secret>`)
    /// carries; a pending secret presented is confirmed on the way.
    pub async fn node_by_authorization(&self, authorization: Option<&str>) -> Result<node::Model> {
        let bad = || {
            Error::Unauthenticated(
                "unknown node credentials; join again with a new join token".into(),
            )
        };
        let v = authorization
            .and_then(|v| v.strip_prefix("Node "))
            .ok_or_else(bad)?;
        let (id, secret) = v.split_once('.').ok_or_else(bad)?;
        if id.len() > 64 || secret.len() > 256 {
            return Err(bad());
        }
        let n = self.repo.node(id).await?.ok_or_else(bad)?;
        match check(&n, secret) {
            Presented::Current => Ok(n),
            Presented::Pending => {
                // The agent saved a rotation's secret it never confirmed.
                self.confirm_node_secret(&n.id).await?;
                Ok(n)
            }
            Presented::Unknown => Err(bad()),
        }
    }

    /// A node that presented its pending secret has saved it: promote it.
    pub async fn confirm_node_secret(&self, node_id: &str) -> Result<()> {
        self.repo.promote_node_secret(node_id).await?;
        info!(node = %node_id, "node presented its new secret; the old one is retired");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(current: &str, pending: Option<&str>) -> node::Model {
        node::Model {
            id: "n".into(),
            name: "n".into(),
            secret_hash: token_hash(current),
            created_at: 0,
            last_seen_at: None,
            connected: true,
            docker_ok: true,
            docker_error: None,
            draining: false,
            cpu_millis_capacity: 0,
            memory_bytes_capacity: 0,
            address: None,
            agent_version: None,
            pending_secret_hash: pending.map(token_hash),
            pending_secret: None,
        }
    }

    #[test]
    fn both_secrets_work_while_a_rotation_is_unconfirmed() {
        let n = node("lns_old", Some("lns_new"));
        assert_eq!(check(&n, "lns_old"), Presented::Current);
        assert_eq!(check(&n, "lns_new"), Presented::Pending);
        assert_eq!(check(&n, "lns_other"), Presented::Unknown);
        let settled = node("lns_new", None);
        assert_eq!(check(&settled, "lns_old"), Presented::Unknown);
        assert_eq!(check(&settled, "lns_new"), Presented::Current);
    }
}
