//! The seed-004 wire of "User Unregister": the request body, and the HTTP status and body a
//! host answers with.
//!
//! | outcome | status | body |
//! |---|---|---|
//! | unregistered | 200 | `{"riskResponseCode": 0}` |
//! | a challenge is needed (nothing deleted yet) | 200 | `{"riskResponseCode": 2/3/5/8/11/21–24}` |
//! | input errors (body, path) | 402 | `{"error": …, "message": …}` |
//! | the organization's admin account | 403 | |
//! | unknown user | 404 | |
//! | declined by the risk engine, a failed challenge, a concurrent change | 409 | `{"riskResponseCode": 1}` when declined |
//! | anything else (storage, the risk engine unavailable) | 500 | |

use std::net::IpAddr;

use serde_json::{Value, json};

use crate::error::{Error, FieldProblem};
use crate::risk::{DeviceData, RelationshipRef, RequestContext, SessionId};
use crate::signin::UnregisterOutcome;

/// Parses the seed's `AdaptiveUnregisterUserInput` body: `cddc` (required, exactly one of
/// `browserCDDC` / `mobileCDDC`), `relationshipRef` (required, 1–150), `sessionID` (required,
/// 2–100 hex digits), `clientIP` (optional). `objectType`, when present, must be
/// `AdaptiveUnregisterUserInput`.
///
/// # Errors
/// [`Error::InvalidField`] naming the field — answered as 402 by [`answer`].
pub fn parse_body(body: &Value) -> Result<RequestContext, Error> {
    let obj = body.as_object().ok_or(Error::field(
        "body",
        FieldProblem::Format("must be a JSON object"),
    ))?;
    if let Some(t) = obj.get("objectType")
        && t.as_str() != Some("AdaptiveUnregisterUserInput")
    {
        return Err(Error::field(
            "objectType",
            FieldProblem::Format("must be AdaptiveUnregisterUserInput"),
        ));
    }
    let cddc = obj
        .get("cddc")
        .ok_or(Error::field("cddc", FieldProblem::Empty))?;
    let device = DeviceData::from_cddc(cddc)?;
    let text = |name: &'static str| -> Result<&str, Error> {
        obj.get(name)
            .ok_or(Error::field(name, FieldProblem::Empty))?
            .as_str()
            .ok_or(Error::field(name, FieldProblem::Format("must be a string")))
    };
    let relationship_ref = RelationshipRef::parse(text("relationshipRef")?)
        .map_err(|p| Error::field("relationshipRef", p))?;
    let session_id =
        SessionId::parse(text("sessionID")?).map_err(|p| Error::field("sessionID", p))?;
    let client_ip =
        match obj.get("clientIP") {
            None | Some(Value::Null) => None,
            Some(v) => Some(v.as_str().and_then(|s| s.parse::<IpAddr>().ok()).ok_or(
                Error::field(
                    "clientIP",
                    FieldProblem::Format("must be an IPv4 or IPv6 address"),
                ),
            )?),
        };
    Ok(RequestContext {
        client_ip,
        device: Some(device),
        session_id: Some(session_id),
        relationship_ref: Some(relationship_ref),
    })
}

/// The seed's answer to an unregister call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Answer {
    /// The HTTP status.
    pub status: u16,
    /// The JSON body.
    pub body: Value,
}

/// Maps the result of [`SignIn::unregister`](crate::signin::SignIn::unregister) (or
/// [`complete_unregister`](crate::signin::SignIn::complete_unregister)) to the seed's status and
/// body; see the [module docs](self).
pub fn answer(result: &Result<UnregisterOutcome, Error>) -> Answer {
    let (status, body) = match result {
        Ok(UnregisterOutcome::Declined) => (409, json!({ "riskResponseCode": 1 })),
        Ok(outcome) => (
            200,
            json!({ "riskResponseCode": outcome.risk_response_code() }),
        ),
        Err(e) => {
            let status = match e {
                Error::InvalidField { .. } | Error::InvalidRequest(_) => 402,
                Error::Forbidden(_) => 403,
                Error::NotFound(_) => 404,
                Error::InvalidCode | Error::SignInFailed | Error::Conflict(_) => 409,
                e if e.is_retryable() => 409,
                _ => 500,
            };
            (
                status,
                json!({ "error": e.code(), "message": e.to_string() }),
            )
        }
    };
    Answer { status, body }
}
