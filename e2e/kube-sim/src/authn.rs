//! Authentication of simulator requests from their `Authorization: Bearer <token>` header: the
//! simulator's static admin token, service-account tokens it issued (checked as a TokenReview for
//! the API server audience would), or anonymous without a token. Reads the clock (token expiry)
//! and the state; no other I/O.

use std::collections::BTreeMap;

use serde_json::Value;

use super::error::ApiError;
use super::store::State;
use super::tokens;

/// The static token of the simulator's admin, written into every kubeconfig the simulator
/// writes ([`crate::SimServer::kubeconfig_yaml`]).
pub(crate) const ADMIN_TOKEN: &str = "kube-sim-admin";

/// The admin's username.
pub(crate) const ADMIN_USER: &str = "kube-sim-admin";

/// The group that may do everything (the real server's privileged group).
pub(crate) const MASTERS: &str = "system:masters";

/// The group of every authenticated user.
pub(crate) const AUTHENTICATED: &str = "system:authenticated";

/// The group of requests without credentials.
pub(crate) const UNAUTHENTICATED: &str = "system:unauthenticated";

/// The username of requests without credentials.
pub(crate) const ANONYMOUS: &str = "system:anonymous";

/// Who made a request.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct UserInfo {
    /// The username (`kube-sim-admin`, `system:serviceaccount:<ns>:<name>`,
    /// `system:anonymous`).
    pub name: String,
    /// The user's uid (a service account's uid), or empty.
    pub uid: String,
    /// The groups.
    pub groups: Vec<String>,
    /// Extra attributes (a bound token's `authentication.kubernetes.io/pod-name`, ...).
    pub extra: BTreeMap<String, Vec<String>>,
}

impl UserInfo {
    /// The simulator's admin ([`ADMIN_USER`], groups `system:masters` and
    /// `system:authenticated`).
    pub(crate) fn admin() -> Self {
        Self::new(ADMIN_USER, &[MASTERS, AUTHENTICATED])
    }

    /// The user of requests without a token.
    pub(crate) fn anonymous() -> Self {
        Self::new(ANONYMOUS, &[UNAUTHENTICATED])
    }

    /// A user with `groups` (for access reviews and tests).
    pub(crate) fn new(name: &str, groups: &[&str]) -> Self {
        Self {
            name: name.into(),
            groups: groups.iter().map(|g| g.to_string()).collect(),
            ..Self::default()
        }
    }

    /// The identity of service account `ns/name` (its username and the service-account groups).
    #[cfg(test)]
    pub(crate) fn service_account(ns: &str, name: &str) -> Self {
        Self::new(
            &format!("system:serviceaccount:{ns}:{name}"),
            &[
                "system:serviceaccounts",
                &format!("system:serviceaccounts:{ns}"),
                AUTHENTICATED,
            ],
        )
    }

    /// Whether the user is in `group`.
    pub(crate) fn in_group(&self, group: &str) -> bool {
        self.groups.iter().any(|g| g == group)
    }

    /// A user from the `status.user` of a TokenReview.
    fn from_review(user: &Value) -> Self {
        let strings = |v: &Value| -> Vec<String> {
            v.as_array()
                .into_iter()
                .flatten()
                .filter_map(|s| s.as_str().map(String::from))
                .collect()
        };
        Self {
            name: user["username"].as_str().unwrap_or_default().into(),
            uid: user["uid"].as_str().unwrap_or_default().into(),
            groups: strings(&user["groups"]),
            extra: user["extra"]
                .as_object()
                .into_iter()
                .flatten()
                .map(|(k, v)| (k.clone(), strings(v)))
                .collect(),
        }
    }
}

/// Authenticates a request from its `Authorization` header value (`None` when absent).
///
/// # Errors
/// 401 Unauthorized, as a real server answers, for a bearer token that is neither the admin
/// token nor a valid service-account token for the API server audience (the issuer): signature,
/// expiry, audience, and the service account and bound pod still existing with their uids.
pub(crate) fn authenticate(
    st: &State,
    key: &[u8],
    authorization: Option<&str>,
) -> Result<UserInfo, ApiError> {
    let Some(header) = authorization else {
        return Ok(UserInfo::anonymous());
    };
    let mut words = header.trim().splitn(2, ' ');
    let scheme = words.next().unwrap_or_default();
    if !scheme.eq_ignore_ascii_case("bearer") {
        // Other schemes (basic auth) are not served: the request is anonymous, as on a real
        // server without such an authenticator.
        return Ok(UserInfo::anonymous());
    }
    let token = words.next().unwrap_or_default().trim();
    if token == ADMIN_TOKEN {
        return Ok(UserInfo::admin());
    }
    match tokens::check(st, key, token, &[tokens::ISSUER.to_string()]) {
        Ok(status) => Ok(UserInfo::from_review(&status["user"])),
        Err(_) => Err(ApiError::unauthorized()),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::lifecycle;
    use crate::objects::{self, Managed};

    #[test]
    fn admin_anonymous_and_garbage() {
        let st = State::new(1, 10);
        assert_eq!(
            authenticate(&st, b"k", Some(&format!("Bearer {ADMIN_TOKEN}"))),
            Ok(UserInfo::admin())
        );
        assert_eq!(authenticate(&st, b"k", None), Ok(UserInfo::anonymous()));
        assert_eq!(
            authenticate(&st, b"k", Some("Basic dXNlcjpwYXNz")),
            Ok(UserInfo::anonymous())
        );
        let e = authenticate(&st, b"k", Some("Bearer not-a-token")).unwrap_err();
        assert_eq!(
            (e.code, e.reason, e.message.as_str()),
            (401, "Unauthorized", "Unauthorized")
        );
        assert!(authenticate(&st, b"k", Some("Bearer ")).is_err());
    }

    #[test]
    fn service_account_tokens_authenticate_for_the_api_audience_only() {
        let mut st = State::new(1, 10);
        for (plural, ns, name) in [("namespaces", "", "d"), ("serviceaccounts", "d", "a")] {
            let rt = st.registry.find("", "v1", plural).cloned().unwrap();
            objects::create(
                &mut st,
                &rt,
                ns,
                json!({"metadata": {"name": name}}),
                Managed::Update("t"),
            )
            .unwrap();
        }
        let token = |body: Value| {
            let tr = tokens::request(&st, b"k", "d", "a", &body).unwrap();
            format!("Bearer {}", tr["status"]["token"].as_str().unwrap())
        };
        let api = token(json!({}));
        let user = authenticate(&st, b"k", Some(&api)).unwrap();
        assert_eq!(user.name, "system:serviceaccount:d:a");
        assert_eq!(
            user.groups,
            [
                "system:serviceaccounts",
                "system:serviceaccounts:d",
                AUTHENTICATED
            ]
        );
        assert!(!user.uid.is_empty());
        let foreign = token(json!({"spec": {"audiences": ["kairos-operator"]}}));
        assert_eq!(
            authenticate(&st, b"k", Some(&foreign)).unwrap_err().code,
            401
        );
        assert_eq!(
            authenticate(&st, b"other-key", Some(&api))
                .unwrap_err()
                .code,
            401
        );
        let sa = st
            .registry
            .find("", "v1", "serviceaccounts")
            .cloned()
            .unwrap();
        let unused = token(json!({}));
        lifecycle::delete(&mut st, &sa, "d", "a", &Default::default()).unwrap();
        assert_eq!(
            authenticate(&st, b"k", Some(&unused)).unwrap_err().code,
            401,
            "the service account is gone"
        );
        // A token that authenticated moments ago is remembered for 10 s, as a real server does.
        assert!(authenticate(&st, b"k", Some(&api)).is_ok());
    }
}
