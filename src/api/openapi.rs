//! The OpenAPI description, generated from the handlers' annotations.

use axum::Json;
use utoipa::OpenApi;

use super::{auth, cluster, configs, error, events, history, host_config, ops, replicas};
use crate::live::{history as live_history, problems, summary};
use crate::views;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "logstash-mesos",
        description = "Per-image Logstash configs, their history, and the audit log of the \
            logstash-mesos scheduler. The config routes are also served without the /api \
            prefix, as the original framework did. Writes need \
            `Authorization: Bearer <secret>` when tokens are configured (reads too with \
            --api-auth-reads); `POST /api/configs/validate` counts as a read. Tokens have a role: \
            `read` may only read, `write` also changes per-image configs, `admin` also sets the \
            host config and the cluster's members; a token without the role a request needs \
            gets 403. Reads are served from the answering replica's state; add \
            `?consistent=true` for a linearizable read."
    ),
    paths(
        configs::list,
        configs::create,
        configs::update_by_query,
        configs::delete_by_query,
        configs::get_one,
        configs::put_one,
        configs::delete_one,
        configs::post_one,
        configs::history,
        configs::validate,
        events::list,
        events::stream,
        host_config::get,
        host_config::put,
        host_config::config_dir,
        cluster::framework,
        cluster::endpoints,
        cluster::executors,
        cluster::summary,
        history::history,
        replicas::status,
        replicas::add,
        replicas::remove,
        auth::whoami,
        ops::health,
        ops::ready,
        ops::metrics
    ),
    components(schemas(
        views::ConfigJson,
        views::NewConfig,
        views::ConfigUpdate,
        views::RevertRequest,
        views::Deleted,
        views::VersionJson,
        views::HistoryJson,
        views::EventJson,
        views::EventPage,
        views::ValidateRequest,
        views::Validated,
        auth::WhoAmI,
        auth::Role,
        error::ErrorBody,
        error::ErrorDetail,
        ops::Health,
        cluster::FrameworkJson,
        views::ExecutorsJson,
        summary::Summary,
        summary::SummaryTotals,
        problems::Group,
        problems::Kind,
        problems::Severity,
        live_history::RatePoint,
        history::MetricsHistory,
        replicas::ClusterJson,
        replicas::MemberJson,
        replicas::NewMember,
        host_config::HostConfigJson,
        host_config::HostConfigUpdate
    ))
)]
pub struct ApiDoc;

pub async fn serve() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    /// Clients and tools resolve links and generated code by operationId,
    /// so two operations with one id would send them to the wrong route.
    #[test]
    fn every_operation_has_its_own_id() {
        let doc = ApiDoc::openapi();
        let mut seen: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (path, item) in &doc.paths.paths {
            let operations = [
                ("get", &item.get),
                ("put", &item.put),
                ("post", &item.post),
                ("delete", &item.delete),
            ];
            for (method, operation) in operations {
                if let Some(operation) = operation {
                    let id = operation.operation_id.clone().expect("an operationId");
                    seen.entry(id).or_default().push(format!("{method} {path}"));
                }
            }
        }
        let repeated: Vec<_> = seen.iter().filter(|(_, ops)| ops.len() > 1).collect();
        assert!(repeated.is_empty(), "{repeated:?}");
        assert!(seen.len() >= 26, "{seen:?}");
    }
}
