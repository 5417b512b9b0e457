//! Create, get, list, errors, generateName, conflicts and selectors. Does API I/O.

use crate::prelude::*;

#[tokio::test]
async fn conformance_create_get_list_and_errors() {
    let (c, ns) = cluster("conf-crud").await;
    let api = cms(&c.client(), &ns);
    let created = api
        .create(&PostParams::default(), &cm("a", json!({})))
        .await
        .unwrap();
    assert!(created.uid().is_some_and(|u| !u.is_empty()));
    assert!(
        created
            .resource_version()
            .is_some_and(|r| r.parse::<u64>().is_ok())
    );
    assert!(created.metadata.creation_timestamp.is_some());
    let got = api.get("a").await.unwrap();
    assert_eq!(got.uid(), created.uid());
    assert_eq!(got.data, created.data);
    let list = api.list(&ListParams::default()).await.unwrap();
    assert_eq!(
        list.items.iter().map(|o| o.name_any()).collect::<Vec<_>>(),
        vec!["a"]
    );
    assert!(
        list.metadata
            .resource_version
            .is_some_and(|r| !r.is_empty())
    );
    assert_eq!(
        api_err(
            api.create(&PostParams::default(), &cm("a", json!({})))
                .await
        ),
        (409, "AlreadyExists".into())
    );
    assert_eq!(api_err(api.get("missing").await), (404, "NotFound".into()));
    let in_missing_ns = cms(&c.client(), "no-such-namespace");
    assert_eq!(
        api_err(
            in_missing_ns
                .create(&PostParams::default(), &cm("a", json!({})))
                .await
        )
        .0,
        404
    );
}

#[tokio::test]
async fn conformance_generate_name() {
    let (c, ns) = cluster("conf-genname").await;
    let api = cms(&c.client(), &ns);
    let obj: ConfigMap =
        serde_json::from_value(json!({"metadata": {"generateName": "gen-"}})).unwrap();
    let a = api.create(&PostParams::default(), &obj).await.unwrap();
    let b = api.create(&PostParams::default(), &obj).await.unwrap();
    assert!(
        a.name_any().starts_with("gen-") && a.name_any().len() == 9,
        "{}",
        a.name_any()
    );
    assert_ne!(a.name_any(), b.name_any());
    let nameless: ConfigMap = serde_json::from_value(json!({"metadata": {}})).unwrap();
    assert_eq!(
        api_err(api.create(&PostParams::default(), &nameless).await).0,
        422
    );
}

#[tokio::test]
async fn conformance_stale_update_conflicts() {
    let (c, ns) = cluster("conf-conflict").await;
    let api = cms(&c.client(), &ns);
    let v1 = api
        .create(&PostParams::default(), &cm("a", json!({})))
        .await
        .unwrap();
    let mut v2 = v1.clone();
    v2.data = Some([("k".to_string(), "v2".to_string())].into());
    let v2 = api.replace("a", &PostParams::default(), &v2).await.unwrap();
    assert_ne!(v1.resource_version(), v2.resource_version());
    let mut stale = v1.clone();
    stale.data = Some([("k".to_string(), "stale".to_string())].into());
    assert_eq!(
        api_err(api.replace("a", &PostParams::default(), &stale).await),
        (409, "Conflict".into())
    );
    let stale_patch =
        json!({"metadata": {"resourceVersion": v1.resource_version()}, "data": {"k": "x"}});
    assert_eq!(
        api_err(
            api.patch("a", &PatchParams::default(), &Patch::Merge(&stale_patch))
                .await
        )
        .0,
        409
    );
    assert_eq!(api.get("a").await.unwrap().data.unwrap()["k"], "v2");
}

#[tokio::test]
async fn conformance_paged_lists_hold_every_object_once_and_count_what_remains() {
    let (c, ns) = cluster("conf-pages").await;
    let api = cms(&c.client(), &ns);
    for i in 0..7 {
        let tier = if i % 2 == 0 { "web" } else { "db" };
        api.create(
            &PostParams::default(),
            &cm(&format!("p{i}"), json!({"tier": tier})),
        )
        .await
        .unwrap();
    }
    // Pages of 2, followed to the end: each object once, in the order of a full list.
    let pages = |lp: ListParams| {
        let api = api.clone();
        async move {
            let (mut names, mut counts, mut token) = (Vec::new(), Vec::new(), None::<String>);
            loop {
                let mut page_lp = lp.clone().limit(2);
                if let Some(t) = &token {
                    page_lp = page_lp.continue_token(t);
                }
                let page = api.list(&page_lp).await.unwrap();
                assert!(page.items.len() <= 2, "a page holds at most its limit");
                names.extend(page.items.iter().map(|o| o.name_any()));
                counts.push(page.metadata.remaining_item_count);
                match page.metadata.continue_.filter(|t| !t.is_empty()) {
                    Some(t) => token = Some(t),
                    None => return (names, counts),
                }
            }
        }
    };
    let full: Vec<String> = api
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .iter()
        .map(|o| o.name_any())
        .collect();
    let (names, counts) = pages(ListParams::default()).await;
    assert_eq!(names, full);
    // Without a selector each page but the last says how many objects follow it.
    let total = i64::try_from(full.len()).unwrap();
    assert_eq!(counts[0], Some(total - 2), "{counts:?}");
    assert_eq!(counts.last(), Some(&None), "{counts:?}");
    // With one, the count is unknown and left out; the pages still hold each match once.
    let (web, counts) = pages(ListParams::default().labels("tier=web")).await;
    assert_eq!(web, ["p0", "p2", "p4", "p6"]);
    assert!(counts.iter().all(Option::is_none), "{counts:?}");
}

#[tokio::test]
async fn conformance_label_and_field_selectors() {
    let (c, ns) = cluster("conf-selectors").await;
    let api = cms(&c.client(), &ns);
    for (n, l) in [
        ("a", json!({"tier": "web", "env": "prod"})),
        ("b", json!({"tier": "db", "env": "prod"})),
        ("c", json!({"tier": "web"})),
    ] {
        api.create(&PostParams::default(), &cm(n, l)).await.unwrap();
    }
    let names = |lp: ListParams| {
        let api = api.clone();
        async move {
            api.list(&lp)
                .await
                .unwrap()
                .items
                .iter()
                .map(|o| o.name_any())
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(
        names(ListParams::default().labels("tier=web")).await,
        ["a", "c"]
    );
    assert_eq!(
        names(ListParams::default().labels("tier!=web")).await,
        ["b"]
    );
    assert_eq!(
        names(ListParams::default().labels("tier in (db,cache),env=prod")).await,
        ["b"]
    );
    assert_eq!(
        names(ListParams::default().labels("tier notin (db)")).await,
        ["a", "c"]
    );
    assert_eq!(names(ListParams::default().labels("env")).await, ["a", "b"]);
    assert_eq!(names(ListParams::default().labels("!env")).await, ["c"]);
    assert_eq!(
        names(ListParams::default().fields("metadata.name=b")).await,
        ["b"]
    );
    assert_eq!(
        names(ListParams::default().fields(&format!("metadata.namespace={ns},metadata.name!=b")))
            .await,
        ["a", "c"]
    );
    let pods: Api<Pod> = Api::namespaced(c.client(), &ns);
    pods.create(&PostParams::default(), &pod("on-n1", json!({}), Some("n1")))
        .await
        .unwrap();
    pods.create(&PostParams::default(), &pod("on-n2", json!({}), Some("n2")))
        .await
        .unwrap();
    let on_n1 = pods
        .list(&ListParams::default().fields("spec.nodeName=n1"))
        .await
        .unwrap();
    assert_eq!(
        on_n1.items.iter().map(|p| p.name_any()).collect::<Vec<_>>(),
        ["on-n1"]
    );
}

#[tokio::test]
async fn conformance_resource_version_rules_on_create_and_replace() {
    let (c, ns) = cluster("conf-rvrules").await;
    let api = cms(&c.client(), &ns);
    let created = api
        .create(&PostParams::default(), &cm("a", json!({})))
        .await
        .unwrap();
    let mut again = created.clone();
    again.metadata.name = Some("b".into());
    again.metadata.uid = None;
    let (code, _) = api_err(api.create(&PostParams::default(), &again).await);
    assert!(
        code == 500 || code == 400,
        "a resourceVersion on create is refused: {code}"
    );
    let mut unconditional = created.clone();
    unconditional.metadata.resource_version = None;
    api.replace("a", &PostParams::default(), &unconditional)
        .await
        .expect("built-ins allow unconditional updates");
    let nops: Api<DynamicObject> = Api::namespaced_with(c.client(), &ns, &nodeop_resource());
    let mut op = nops
        .create(&PostParams::default(), &nodeop("op"))
        .await
        .unwrap();
    op.metadata.resource_version = None;
    assert_eq!(
        api_err(nops.replace("op", &PostParams::default(), &op).await).0,
        422,
        "custom resources do not"
    );
}
