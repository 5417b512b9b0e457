//! Request handlers: list/get (JSON or Table), create, update, patch and server-side apply,
//! delete and deletecollection, watch, eviction, binding, TokenRequest, TokenReview and access reviews. They lock the
//! simulator state, call the pure store logic and build responses; no other I/O.

use std::sync::Arc;

use axum::response::Response;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use serde_json::{Value, json};

use super::apply;
use super::attributes::{self, Attributes};
use super::binding;
use super::dryrun::{is_dry_run, writable};
use super::error::{ApiError, ApiResult};
use super::events;
use super::eviction;
use super::lifecycle::{self, DeleteOpts};
use super::lists::Lists;
use super::meta;
use super::negotiate::{partial, strict_check, wants_metadata, wants_table};
use super::objects::{self, Managed};
use super::patch::{PatchKind, apply_patch};
use super::rbac::{self, Policy};
use super::registry::ResourceType;
use super::request::{Call, Target, respond, respond_stored};
use super::reviews;
use super::selectors::{self, FieldReq, LabelReq};
use super::sim::Sim;
use super::store::State;
use super::table;
use super::tokens;
use super::watch::{self, WatchQuery};

fn selectors_of(t: &Target, call: &Call) -> ApiResult<(Vec<LabelReq>, Vec<FieldReq>)> {
    let labels = selectors::parse_labels(
        call.query
            .get("labelSelector")
            .map(String::as_str)
            .unwrap_or_default(),
    )?;
    let fields = selectors::parse_fields(
        call.query
            .get("fieldSelector")
            .map(String::as_str)
            .unwrap_or_default(),
    )?;
    if t.rt.is_custom()
        && let Some(f) = fields.iter().find(|f| !f.path.starts_with("metadata."))
    {
        return Err(ApiError::bad_request(format!(
            "field label not supported: {}",
            f.path
        )));
    }
    Ok((labels, fields))
}

fn with_version(t: &Target, o: Value) -> Value {
    events::present(&t.rt, o)
}

/// The type objects of `t` are stored as: the core Events for `events.k8s.io` Events, which
/// are converted on the way in ([`incoming`]) and out ([`with_version`]).
fn stored_type(st: &State, t: &Target) -> ApiResult<ResourceType> {
    if !events::is_new_api(&t.rt) {
        return Ok(t.rt.clone());
    }
    st.registry
        .find("", "v1", "events")
        .cloned()
        .ok_or_else(|| ApiError::internal("the core Event type is not registered"))
}

/// A written object of `t` in its stored form.
fn incoming(t: &Target, o: Value) -> Value {
    if events::is_new_api(&t.rt) {
        events::to_core(&o)
    } else {
        o
    }
}

/// Refuses a create through `events.k8s.io` that its stricter validation refuses (`o` in the
/// stored form).
fn check_new_event(t: &Target, o: &Value) -> ApiResult<()> {
    if !events::is_new_api(&t.rt) {
        return Ok(());
    }
    let mut o = o.clone();
    o["metadata"]["namespace"] = json!(ns(t));
    let errs = events::create_errors(&o);
    if errs.is_empty() {
        return Ok(());
    }
    let name = o["metadata"]["name"].as_str().unwrap_or_default();
    Err(ApiError::invalid_fields(
        events::GROUP,
        "Event",
        name,
        &errs,
    ))
}

fn ns(t: &Target) -> &str {
    t.namespace.as_deref().unwrap_or_default()
}

fn name(t: &Target) -> &str {
    t.name.as_deref().unwrap_or_default()
}

/// GET on a collection.
pub(crate) fn list(sim: &Arc<Sim>, t: &Target, call: &Call) -> ApiResult<Response> {
    let (labels, fields) = selectors_of(t, call)?;
    let from = match call.query.get("continue").filter(|c| !c.is_empty()) {
        Some(c) => Some(continue_key(c)?),
        None => None,
    };
    let limit = call
        .query
        .get("limit")
        .and_then(|l| l.parse::<usize>().ok())
        .filter(|l| *l > 0);
    let st = sim.lock();
    let page = st.page(
        &t.rt.store_key(),
        t.namespace.as_deref(),
        from,
        limit,
        |o| {
            selectors::labels_match(&labels, &o["metadata"]["labels"])
                && selectors::fields_match(&fields, o)
        },
    );
    let rv = st.rv.to_string();
    drop(st);
    let items: Vec<Value> = page.items.into_iter().map(|o| with_version(t, o)).collect();
    let mut meta = json!({"resourceVersion": rv});
    if let Some((ns, name)) = &page.next {
        meta["continue"] = json!(B64.encode(format!("{ns}/{name}")));
        // Like the real server, counted only for a list without selectors.
        if labels.is_empty() && fields.is_empty() {
            meta["remainingItemCount"] = json!(page.remaining);
        }
    }
    if wants_table(call) {
        let include = call
            .query
            .get("includeObject")
            .map(String::as_str)
            .unwrap_or("Metadata");
        let mut tb = table::table(&t.rt, &items, &rv, include);
        if let Some(c) = meta.get("continue") {
            tb["metadata"]["continue"] = c.clone();
        }
        return Ok(respond(200, tb));
    }
    if wants_metadata(call) {
        let items: Vec<Value> = items.iter().map(partial).collect();
        return Ok(respond(
            200,
            json!({"kind": "PartialObjectMetadataList", "apiVersion": "meta.k8s.io/v1", "metadata": meta, "items": items}),
        ));
    }
    Ok(respond(
        200,
        json!({"kind": format!("{}List", t.rt.kind), "apiVersion": t.rt.api_version(), "metadata": meta, "items": items}),
    ))
}

/// The key (namespace, name) a `continue` token of [`list`] starts from: names and namespaces
/// hold no `/`, so the first one splits them.
fn continue_key(token: &str) -> ApiResult<(String, String)> {
    B64.decode(token)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|k| {
            k.split_once('/')
                .map(|(ns, name)| (ns.to_owned(), name.to_owned()))
        })
        .ok_or_else(|| ApiError::bad_request("invalid continue token"))
}

/// GET on one object (or its status).
pub(crate) fn get(sim: &Arc<Sim>, t: &Target, call: &Call) -> ApiResult<Response> {
    let o = sim
        .lock()
        .get(&t.rt.store_key(), ns(t), name(t))
        .cloned()
        .ok_or_else(|| ApiError::not_found(&t.rt.plural, &t.rt.group, name(t)))?;
    let o = with_version(t, o);
    if wants_table(call) {
        let rv = o["metadata"]["resourceVersion"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let include = call
            .query
            .get("includeObject")
            .map(String::as_str)
            .unwrap_or("Metadata");
        return Ok(respond(200, table::table(&t.rt, &[o], &rv, include)));
    }
    if wants_metadata(call) {
        return Ok(respond(200, partial(&o)));
    }
    Ok(respond(200, o))
}

/// POST on a collection.
pub(crate) fn create(sim: &Arc<Sim>, t: &Target, call: &Call) -> ApiResult<Response> {
    let body = call.json()?;
    let mut st = writable(sim, call);
    match t.rt.plural.as_str() {
        "tokenreviews" => return Ok(respond(201, tokens::review(&st, &sim.key, &body))),
        "selfsubjectaccessreviews" => {
            let out = reviews::self_review(&call.user, &body, &Policy::from_state(&st))?;
            return Ok(respond(201, out));
        }
        "subjectaccessreviews" => {
            return Ok(respond(
                201,
                reviews::review(&body, &Policy::from_state(&st))?,
            ));
        }
        _ => {}
    }
    strict_check(t, call, &body)?;
    if body["metadata"]["resourceVersion"]
        .as_str()
        .is_some_and(|r| !r.is_empty())
    {
        // The real storage layer refuses this with a plain error, which the server reports as a
        // 500 InternalError.
        return Err(ApiError::internal(
            "Internal error occurred: resourceVersion should not be set on objects to be created",
        ));
    }
    let body = incoming(t, body);
    check_new_event(t, &body)?;
    let rt = stored_type(&st, t)?;
    let o = objects::create(&mut st, &rt, ns(t), body, Managed::Update(&call.manager))?;
    Ok(respond_stored(201, with_version(t, o), is_dry_run(call)))
}

/// PUT on an object or its status.
pub(crate) fn update(sim: &Arc<Sim>, t: &Target, call: &Call) -> ApiResult<Response> {
    let body = call.json()?;
    let sub = match t.sub.as_deref() {
        Some("status") => "status",
        _ => "",
    };
    strict_check(t, call, &body)?;
    // Custom resources do not allow unconditional updates (the real CR strategy).
    if t.rt.is_custom()
        && body["metadata"]["resourceVersion"]
            .as_str()
            .is_none_or(str::is_empty)
    {
        return Err(ApiError::invalid(
            &t.rt.kind,
            name(t),
            "metadata.resourceVersion: Invalid value: 0x0: must be specified for an update",
        ));
    }
    let mut st = writable(sim, call);
    let rt = stored_type(&st, t)?;
    let o = objects::update(
        &mut st,
        &rt,
        ns(t),
        name(t),
        incoming(t, body),
        sub,
        Managed::Update(&call.manager),
    )?;
    Ok(respond_stored(200, with_version(t, o), is_dry_run(call)))
}

/// PATCH (merge, JSON, strategic or apply) on an object or its status.
pub(crate) fn patch(sim: &Arc<Sim>, t: &Target, call: &Call) -> ApiResult<Response> {
    let kind = PatchKind::from_content_type(&call.content_type)
        .ok_or_else(|| ApiError::unsupported_media(&call.content_type))?;
    let sub = t.sub.as_deref().unwrap_or_default();
    let mut st = writable(sim, call);
    let rt = stored_type(&st, t)?;
    let live = st
        .get(&t.rt.store_key(), ns(t), name(t))
        .cloned()
        .map(|o| with_version(t, o));
    if kind != PatchKind::Apply {
        let live = live.ok_or_else(|| ApiError::not_found(&t.rt.plural, &t.rt.group, name(t)))?;
        let patched = apply_patch(kind, &live, &call.body)?;
        strict_check(t, call, &patched)?;
        let o = objects::update(
            &mut st,
            &rt,
            ns(t),
            name(t),
            incoming(t, patched),
            sub,
            Managed::Update(&call.manager),
        )?;
        return Ok(respond_stored(200, with_version(t, o), is_dry_run(call)));
    }
    let manager = call
        .query
        .get("fieldManager")
        .filter(|m| !m.is_empty())
        .ok_or_else(|| {
            ApiError::invalid(
                "PatchOptions",
                "",
                "fieldManager: Required value: is required for apply patch",
            )
        })?;
    let applied: Value = serde_yaml::from_slice(&call.body)
        .map_err(|e| ApiError::bad_request(format!("error decoding YAML: {e}")))?;
    if applied["apiVersion"].as_str().is_none_or(str::is_empty)
        || applied["kind"].as_str().is_none_or(str::is_empty)
    {
        return Err(ApiError::bad_request(
            "apiVersion and kind must be set in an apply patch",
        ));
    }
    if let Some(n) = applied["metadata"]["name"].as_str()
        && n != name(t)
    {
        return Err(ApiError::bad_request(format!(
            "the name of the object ({n}) does not match the name on the URL ({})",
            name(t)
        )));
    }
    strict_check(t, call, &applied)?;
    let now = meta::now();
    let force = call.flag("force");
    match live {
        None if sub.is_empty() => {
            // Creating by apply also needs `create` (named), as on a real server.
            let create = Attributes::resource("create", &t.rt.group, &t.rt.plural)
                .in_namespace(ns(t))
                .named(name(t));
            if let rbac::Decision::Deny { reason } = sim.decide_in(&st, &call.user, &create) {
                return Err(attributes::forbidden_create_on_apply(&create, &reason));
            }
            let mut merged = apply::apply(
                None,
                &applied,
                &Lists::new(t.rt.schema.as_deref()),
                manager,
                force,
                "",
                t.rt.status_subresource,
                &now,
            )?;
            merged["metadata"]["name"] = json!(name(t));
            let merged = incoming(t, merged);
            check_new_event(t, &merged)?;
            let o = objects::create(&mut st, &rt, ns(t), merged, Managed::Applied)?;
            Ok(respond_stored(201, with_version(t, o), is_dry_run(call)))
        }
        None => Err(ApiError::not_found(&t.rt.plural, &t.rt.group, name(t))),
        Some(live) => {
            let merged = apply::apply(
                Some(&live),
                &applied,
                &Lists::new(t.rt.schema.as_deref()),
                manager,
                force,
                sub,
                t.rt.status_subresource,
                &now,
            )?;
            let o = objects::update(
                &mut st,
                &rt,
                ns(t),
                name(t),
                incoming(t, merged),
                sub,
                Managed::Applied,
            )?;
            Ok(respond_stored(200, with_version(t, o), is_dry_run(call)))
        }
    }
}

/// DELETE on an object.
pub(crate) fn delete(sim: &Arc<Sim>, t: &Target, call: &Call) -> ApiResult<Response> {
    let opts = DeleteOpts::from_parts(&call.json()?, &call.query);
    let mut st = writable(sim, call);
    let rt = stored_type(&st, t)?;
    let o = lifecycle::delete(&mut st, &rt, ns(t), name(t), &opts)?;
    let lingers = st.get(&t.rt.store_key(), ns(t), name(t)).is_some();
    Ok(respond(if lingers { 202 } else { 200 }, with_version(t, o)))
}

/// DELETE on a collection (with selectors).
pub(crate) fn delete_collection(sim: &Arc<Sim>, t: &Target, call: &Call) -> ApiResult<Response> {
    let (labels, fields) = selectors_of(t, call)?;
    let opts = DeleteOpts::from_parts(&call.json()?, &call.query);
    let mut st = writable(sim, call);
    let rt = stored_type(&st, t)?;
    let victims: Vec<Value> = st
        .list(&t.rt.store_key(), t.namespace.as_deref())
        .into_iter()
        .filter(|o| {
            selectors::labels_match(&labels, &o["metadata"]["labels"])
                && selectors::fields_match(&fields, o)
        })
        .collect();
    let mut items = vec![];
    for v in victims {
        let (n, m) = (
            v["metadata"]["namespace"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
            v["metadata"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
        );
        if let Ok(o) = lifecycle::delete(&mut st, &rt, &n, &m, &opts) {
            items.push(with_version(t, o));
        }
    }
    let rv = st.rv.to_string();
    Ok(respond(
        200,
        json!({"kind": format!("{}List", t.rt.kind), "apiVersion": t.rt.api_version(), "metadata": {"resourceVersion": rv}, "items": items}),
    ))
}

/// GET with `watch=1`.
pub(crate) fn watch(sim: &Arc<Sim>, t: &Target, call: &Call) -> ApiResult<Response> {
    let (labels, fields) = selectors_of(t, call)?;
    let q = WatchQuery {
        namespace: t.namespace.clone(),
        resource_version: call.query.get("resourceVersion").cloned(),
        bookmarks: call.flag("allowWatchBookmarks"),
        send_initial: call.flag("sendInitialEvents"),
        labels,
        fields,
        timeout: call
            .query
            .get("timeoutSeconds")
            .and_then(|s| s.parse().ok()),
        metadata_only: wants_metadata(call),
    };
    Ok(watch::serve(sim.clone(), t.rt.clone(), q))
}

/// POST `pods/{name}/eviction`.
pub(crate) fn evict(sim: &Arc<Sim>, t: &Target, call: &Call) -> ApiResult<Response> {
    let body = call.json()?;
    let s = eviction::evict(&mut writable(sim, call), ns(t), name(t), &body)?;
    Ok(respond(201, s))
}

/// POST `pods/{name}/binding`.
pub(crate) fn bind(sim: &Arc<Sim>, t: &Target, call: &Call) -> ApiResult<Response> {
    let body = call.json()?;
    let s = binding::bind(&mut writable(sim, call), ns(t), name(t), &body)?;
    Ok(respond(201, s))
}

/// POST `serviceaccounts/{name}/token`.
pub(crate) fn token(sim: &Arc<Sim>, t: &Target, call: &Call) -> ApiResult<Response> {
    let body = call.json()?;
    let out = tokens::request(&sim.lock(), &sim.key, ns(t), name(t), &body)?;
    Ok(respond(201, out))
}
