//! fsa's user tokens: HS256 JWTs that carry the tenant, the user, the
//! role and the user's token version, with issuer and audience checked
//! with the signature; and the operator token, compared in constant time.

use std::sync::Arc;

use chrono::Utc;
use fsa_core::{Role, TenantId};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::ApiError;

/// The `iss` of fsa's user tokens.
pub const ISSUER: &str = "fsa";
/// The `aud` of fsa's user tokens: the tenant API.
pub const AUDIENCE: &str = "fsa-api";

/// The claims of a user token.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    pub iss: String,
    pub aud: String,
    /// The user's id.
    pub sub: Uuid,
    /// The tenant's id.
    pub tid: Uuid,
    /// The tenant's slug, for logs.
    pub ten: String,
    pub role: Role,
    /// The user's token version when the token was issued.
    pub tv: i64,
    pub iat: i64,
    pub exp: i64,
}

#[derive(Clone)]
pub struct Tokens {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    ttl: chrono::Duration,
    admin_token: Arc<str>,
}

impl Tokens {
    pub fn new(jwt_secret: &str, admin_token: &str, ttl: std::time::Duration) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = 5;
        validation.set_required_spec_claims(&["exp", "sub", "iss", "aud"]);
        validation.set_issuer(&[ISSUER]);
        validation.set_audience(&[AUDIENCE]);
        Tokens {
            encoding: EncodingKey::from_secret(jwt_secret.as_bytes()),
            decoding: DecodingKey::from_secret(jwt_secret.as_bytes()),
            validation,
            ttl: chrono::Duration::from_std(ttl).unwrap_or(chrono::Duration::hours(1)),
            admin_token: admin_token.into(),
        }
    }

    /// Issues a token for a user of `role` at `token_version`; returns it
    /// with its expiry.
    pub fn issue(
        &self,
        tenant: TenantId,
        slug: &str,
        user: Uuid,
        role: Role,
        token_version: i64,
    ) -> Result<(String, chrono::DateTime<Utc>), ApiError> {
        let now = Utc::now();
        let exp = now + self.ttl;
        let claims = Claims {
            iss: ISSUER.to_owned(),
            aud: AUDIENCE.to_owned(),
            sub: user,
            tid: tenant.as_uuid(),
            ten: slug.to_owned(),
            role,
            tv: token_version,
            iat: now.timestamp(),
            exp: exp.timestamp(),
        };
        let token = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(|e| ApiError::Internal(e.into()))?;
        Ok((token, exp))
    }

    pub fn verify(&self, token: &str) -> Result<Claims, ApiError> {
        use jsonwebtoken::errors::ErrorKind;
        jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map(|d| d.claims)
            .map_err(|e| match e.kind() {
                ErrorKind::ExpiredSignature => ApiError::Unauthorized {
                    code: "token_expired",
                    detail: "the token has expired; log in again".into(),
                },
                _ => ApiError::Unauthorized {
                    code: "token_invalid",
                    detail: "the token is not valid".into(),
                },
            })
    }

    /// Compared in constant time, so the time of a refusal does not tell
    /// how much of a guess was right.
    pub(crate) fn is_admin_token(&self, token: &str) -> bool {
        use subtle::ConstantTimeEq;
        token.as_bytes().ct_eq(self.admin_token.as_bytes()).into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_and_reject_forgeries() {
        let t = Tokens::new("secret-a", "admin", std::time::Duration::from_secs(60));
        let tenant = TenantId::generate();
        let (tok, _) = t
            .issue(tenant, "acme", Uuid::now_v7(), Role::Dispatcher, 0)
            .unwrap();
        let c = t.verify(&tok).unwrap();
        assert_eq!(c.tid, tenant.as_uuid());
        let other = Tokens::new("secret-b", "admin", std::time::Duration::from_secs(60));
        assert_eq!(other.verify(&tok).unwrap_err().code(), "token_invalid");
        let expired = Tokens::new("secret-a", "admin", std::time::Duration::ZERO);
        let mut claims = c.clone();
        claims.exp = Utc::now().timestamp() - 120;
        let old = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &expired.encoding)
            .unwrap();
        assert_eq!(t.verify(&old).unwrap_err().code(), "token_expired");
    }

    #[test]
    fn issuer_and_audience_are_required_and_checked() {
        let t = Tokens::new("secret-a", "admin", std::time::Duration::from_secs(60));
        let (tok, _) = t
            .issue(TenantId::generate(), "acme", Uuid::now_v7(), Role::Admin, 0)
            .unwrap();
        let good = t.verify(&tok).unwrap();
        let sign = |v: serde_json::Value| {
            jsonwebtoken::encode(&Header::new(Algorithm::HS256), &v, &t.encoding).unwrap()
        };
        let base = serde_json::to_value(&good).unwrap();
        for (key, value) in [
            ("iss", Some("someone-else")),
            ("aud", Some("fsa-admin")),
            ("iss", None),
            ("aud", None),
        ] {
            let mut v = base.clone();
            match value {
                Some(x) => v[key] = x.into(),
                None => {
                    v.as_object_mut().unwrap().remove(key);
                }
            }
            let err = t.verify(&sign(v)).unwrap_err();
            assert_eq!(err.code(), "token_invalid", "{key} = {value:?}");
        }
    }
}
