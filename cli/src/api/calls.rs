//! One typed method per RPC the CLI makes, each an authenticated call that
//! refreshes an expired session once (see [`Api::call`]).

use lattice_proto::v1;
use lattice_proto::v1::account_service_client::AccountServiceClient;
use lattice_proto::v1::audit_service_client::AuditServiceClient;
use lattice_proto::v1::auth_service_client::AuthServiceClient;
use lattice_proto::v1::node_service_client::NodeServiceClient;
use lattice_proto::v1::workload_service_client::WorkloadServiceClient;
use tonic::Streaming;

use super::Api;

macro_rules! rpcs {
    ($( $(#[$doc:meta])* $name:ident: $client:ident::$method:ident($req:ty) -> $resp:ty; )+) => {
        impl Api {
            $(
                $(#[$doc])*
                pub async fn $name(&mut self, req: $req) -> anyhow::Result<$resp> {
                    self.call(req, |ch, r| async move { $client::new(ch).$method(r).await })
                        .await
                }
            )+
        }
    };
}

rpcs! {
    /// Creates a workload, or updates the one of that name.
    deploy: WorkloadServiceClient::deploy(v1::DeployRequest) -> v1::DeployResponse;
    /// Sets and unsets env vars (a new version).
    set_env: WorkloadServiceClient::set_env(v1::SetEnvRequest) -> v1::DeployResponse;
    /// A workload's env vars.
    get_env: WorkloadServiceClient::get_env(v1::GetEnvRequest) -> v1::EnvList;
    /// A workload's versions.
    history: WorkloadServiceClient::history(v1::WorkloadRef) -> v1::HistoryResponse;
    /// Rolls an earlier version out again.
    rollback: WorkloadServiceClient::rollback(v1::RollbackRequest) -> v1::DeployResponse;
    /// Kept volumes.
    list_volumes: WorkloadServiceClient::list_volumes(v1::ListVolumesRequest) -> v1::ListVolumesResponse;
    /// Removes a kept volume.
    delete_volume: WorkloadServiceClient::delete_volume(v1::DeleteVolumeRequest) -> v1::Volume;
    /// The caller's workloads.
    list_workloads: WorkloadServiceClient::list(v1::ListWorkloadsRequest) -> v1::ListWorkloadsResponse;
    /// One workload with its events.
    get_workload: WorkloadServiceClient::get(v1::GetWorkloadRequest) -> v1::WorkloadDetail;
    /// A snapshot of the matching workloads, then every change.
    watch: WorkloadServiceClient::watch(v1::WatchRequest) -> Streaming<v1::WorkloadEvent>;
    /// A workload's data, streamed from its node.
    backup: WorkloadServiceClient::backup(v1::BackupRequest) -> Streaming<v1::BackupChunk>;
    /// A workload's output.
    logs: WorkloadServiceClient::logs(v1::LogsRequest) -> Streaming<v1::LogLine>;
    /// Stops a workload (data kept).
    stop: WorkloadServiceClient::stop(v1::WorkloadRef) -> v1::Workload;
    /// Starts a stopped or failed workload.
    start: WorkloadServiceClient::start(v1::WorkloadRef) -> v1::Workload;
    /// Recreates a workload's container.
    restart: WorkloadServiceClient::restart(v1::WorkloadRef) -> v1::Workload;
    /// Removes a workload.
    delete: WorkloadServiceClient::delete(v1::DeleteRequest) -> v1::Workload;
    /// Endpoints and credentials of a workload.
    get_access: WorkloadServiceClient::get_access(v1::GetAccessRequest) -> v1::Access;
    /// Every node (admins).
    list_nodes: NodeServiceClient::list(v1::ListNodesRequest) -> v1::ListNodesResponse;
    /// Stops placing workloads on a node (admins).
    drain_node: NodeServiceClient::drain(v1::DrainRequest) -> v1::Node;
    /// Removes a node (admins).
    remove_node: NodeServiceClient::remove(v1::RemoveNodeRequest) -> v1::RemoveNodeResponse;
    /// Gives a node a new secret (admins).
    rotate_node_secret: NodeServiceClient::rotate_secret(v1::RotateNodeSecretRequest) -> v1::Empty;
    /// A token a new machine joins with (admins).
    create_join_token: NodeServiceClient::create_join_token(v1::CreateJoinTokenRequest) -> v1::JoinToken;
    /// Ends the session.
    logout: AuthServiceClient::logout(v1::LogoutRequest) -> v1::Empty;
    /// Who the credentials belong to.
    who_am_i: AuthServiceClient::who_am_i(v1::Empty) -> v1::WhoAmIResponse;
    /// A new API token.
    create_api_token: AuthServiceClient::create_api_token(v1::CreateApiTokenRequest) -> v1::CreateApiTokenResponse;
    /// The caller's API tokens.
    list_api_tokens: AuthServiceClient::list_api_tokens(v1::Empty) -> v1::ListApiTokensResponse;
    /// A one-time invite (admin).
    create_invite: AccountServiceClient::create_invite(v1::CreateInviteRequest) -> v1::Invite;
    /// Feedback to the admins.
    send_feedback: AccountServiceClient::send_feedback(v1::SendFeedbackRequest) -> v1::Empty;
    /// Feedback users sent (admins).
    list_feedback: AccountServiceClient::list_feedback(v1::ListFeedbackRequest) -> v1::ListFeedbackResponse;
    /// Disables or enables an account (admin).
    set_disabled: AccountServiceClient::set_disabled(v1::SetDisabledRequest) -> v1::Empty;
    /// Changes the caller's password.
    change_password: AccountServiceClient::change_password(v1::ChangePasswordRequest) -> v1::Empty;
    /// The caller's sessions.
    list_sessions: AccountServiceClient::list_sessions(v1::Empty) -> v1::ListSessionsResponse;
    /// Ends one of the caller's sessions.
    revoke_session: AccountServiceClient::revoke_session(v1::RevokeSessionRequest) -> v1::Empty;
    /// Audit entries, newest first.
    list_audit: AuditServiceClient::list(v1::ListAuditRequest) -> v1::ListAuditResponse;
    /// Revokes an API token.
    revoke_api_token: AuthServiceClient::revoke_api_token(v1::RevokeApiTokenRequest) -> v1::Empty;
}

impl Api {
    /// Opens an exec session. `input` must already hold the ExecStart: the
    /// server reads it before it answers. Not retried (its input cannot be
    /// replayed); the session is refreshed first if it is about to expire.
    pub async fn exec(
        &mut self,
        input: tokio::sync::mpsc::Receiver<v1::ExecInput>,
    ) -> anyhow::Result<Streaming<v1::ExecOutput>> {
        let token = self.access_token(false).await?;
        let req = super::bearer(tokio_stream::wrappers::ReceiverStream::new(input), &token)?;
        WorkloadServiceClient::new(self.channel())
            .exec(req)
            .await
            .map(tonic::Response::into_inner)
            .map_err(|s| self.status(&s))
    }
}

impl Api {
    /// Restores a backup: `input` must already hold the RestoreStart. Not
    /// retried (its input cannot be replayed).
    pub async fn restore(
        &mut self,
        input: tokio::sync::mpsc::Receiver<v1::RestoreChunk>,
    ) -> anyhow::Result<v1::RestoreResponse> {
        let token = self.access_token(false).await?;
        let req = super::bearer(tokio_stream::wrappers::ReceiverStream::new(input), &token)?;
        WorkloadServiceClient::new(self.channel())
            .restore(req)
            .await
            .map(tonic::Response::into_inner)
            .map_err(|s| self.status(&s))
    }
}
