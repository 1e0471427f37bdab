//! The Grafana provisioning: dashboards work on the first start only if every panel names the
//! datasource by the uid the provisioning gives it.

use crate::files::{dashboards, monitoring_dir, panels, read};

/// The `uid:` of the provisioned datasource.
fn provisioned_datasource_uid() -> String {
    let path = monitoring_dir().join("grafana/provisioning/datasources/prometheus.yml");
    let text = read(&path);
    let uids: Vec<_> = text
        .lines()
        .filter_map(|line| line.trim().strip_prefix("uid:"))
        .map(|uid| uid.trim().trim_matches('"').to_owned())
        .collect();
    assert_eq!(uids.len(), 1, "one datasource with a fixed uid: {uids:?}");
    uids[0].clone()
}

#[test]
fn every_panel_queries_the_provisioned_datasource() {
    let uid = provisioned_datasource_uid();
    for (file, dashboard) in dashboards() {
        assert!(!panels(&dashboard).is_empty(), "{file} has no panels");
        for panel in panels(&dashboard) {
            let title = panel["title"].as_str().unwrap_or("untitled");
            assert_eq!(panel["datasource"]["uid"], uid.as_str(), "{file} / {title}");
            let targets = panel["targets"].as_array().cloned().unwrap_or_default();
            assert!(!targets.is_empty(), "{file} / {title} has no query");
            for target in targets {
                assert_eq!(
                    target["datasource"]["uid"],
                    uid.as_str(),
                    "{file} / {title}"
                );
                assert!(
                    target["expr"]
                        .as_str()
                        .is_some_and(|expr| !expr.trim().is_empty()),
                    "{file} / {title} has an empty query"
                );
            }
        }
    }
}

#[test]
fn dashboards_have_distinct_uids() {
    let mut uids: Vec<_> = dashboards()
        .iter()
        .map(|(file, dashboard)| {
            let uid = dashboard["uid"].as_str();
            uid.unwrap_or_else(|| panic!("{file} has no fixed uid"))
                .to_owned()
        })
        .collect();
    let count = uids.len();
    uids.sort();
    uids.dedup();
    assert_eq!(uids.len(), count, "{uids:?}");
}
