//! Evidence for outsiders (see [`crate::trust`]): `GET /api/v1/digests` (signed tree heads),
//! `GET /api/v1/digests/consistency` (that a later head extends an earlier one) and
//! `GET /api/v1/entries/{id}/proof` (that an entry's delivery is in the tree a head signs).
//! Open to every caller of the API, staff included: an auditor is given a staff token.

use actix_web::{HttpResponse, get, web};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_actix_web::service_config::ServiceConfig;

use super::auth::Caller;
use super::openapi::{Internal, Unauthenticated, Unavailable};
use super::problem::Problem;
use super::{ApiError, AppState};
use crate::activity::EntryId;
use crate::store::{ReadSide, StoreError};
use crate::trust::heads::{HeadJson, SignedHead};
use crate::trust::merkle::Hash;
use crate::trust::proofs::{InclusionProof, ProofError, StoredTree, hex_list};

pub fn routes(cfg: &mut ServiceConfig) {
    cfg.service(digests)
        .service(consistency)
        .service(entry_proof);
}

/// Heads per answer unless asked otherwise, and at most.
const DEFAULT_DIGESTS: usize = 100;
const MAX_DIGESTS: usize = 1000;

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct DigestsQuery {
    /// Only heads numbered below this (the last number of the previous answer).
    before: Option<u64>,
    /// Heads per answer.
    #[param(minimum = 1, maximum = 1000, default = 100)]
    limit: Option<usize>,
}

/// Signed tree heads, newest first.
#[utoipa::path(
    tag = "evidence",
    params(DigestsQuery),
    responses(
        (status = 200, description = "Signed tree heads, newest first (empty before the first is signed, or without a `[trust] signing_key`).", body = Vec<HeadJson>),
        (status = 400, description = "A bad `limit` or `before`.", body = Problem, content_type = "application/problem+json"),
        Unauthenticated,
        Internal,
        Unavailable,
    ),
)]
#[get("/digests")]
async fn digests(
    _caller: Caller,
    state: web::Data<AppState>,
    query: web::Query<DigestsQuery>,
) -> Result<HttpResponse, ApiError> {
    let limit = query.limit.unwrap_or(DEFAULT_DIGESTS);
    if limit == 0 || limit > MAX_DIGESTS {
        return Err(ApiError::BadRequest(format!(
            "limit must be between 1 and {MAX_DIGESTS}"
        )));
    }
    // Head numbers are stored as PostgreSQL's bigint, as the document says (int64).
    let before = query.before;
    if before.is_some_and(|before| i64::try_from(before).is_err()) {
        return Err(ApiError::BadRequest(format!(
            "before must be at most {}",
            i64::MAX
        )));
    }
    let store = state.storage.read.clone();
    let heads = web::block(move || store.tree_heads(before, limit)).await??;
    Ok(HttpResponse::Ok().json(heads))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct ConsistencyQuery {
    /// The earlier head's number.
    #[param(minimum = 1)]
    from: u64,
    /// The later head's number.
    #[param(minimum = 1)]
    to: u64,
}

/// Two heads and the proof that the later one's tree extends the earlier one's.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct ConsistencyAnswer {
    #[schema(value_type = HeadJson)]
    pub from: SignedHead,
    #[schema(value_type = HeadJson)]
    pub to: SignedHead,
    /// RFC 9162 §2.1.4 consistency proof, hex; empty when the trees are the same size.
    #[serde(with = "hex_list")]
    #[schema(value_type = Vec<String>)]
    pub proof: Vec<Hash>,
}

/// That the log was only appended to between two signed heads.
#[utoipa::path(
    tag = "evidence",
    params(ConsistencyQuery),
    responses(
        (status = 200, description = "Both heads and the consistency proof between their trees.", body = ConsistencyAnswer),
        (status = 400, description = "`from` names a later head than `to`, or a malformed query.", body = Problem, content_type = "application/problem+json"),
        Unauthenticated,
        (status = 404, description = "No signed head has one of these numbers.", body = Problem, content_type = "application/problem+json"),
        Internal,
        Unavailable,
    ),
)]
#[get("/digests/consistency")]
async fn consistency(
    _caller: Caller,
    state: web::Data<AppState>,
    query: web::Query<ConsistencyQuery>,
) -> Result<HttpResponse, ApiError> {
    let (from, to) = (query.from, query.to);
    let store = state.storage.read.clone();
    let answer = web::block(move || -> Result<ConsistencyAnswer, ApiError> {
        let from = head_numbered(store.as_ref(), from)?;
        let to = head_numbered(store.as_ref(), to)?;
        if from.number > to.number || from.tree_size > to.tree_size {
            return Err(ApiError::BadRequest(format!(
                "head {} is later than head {}: give the earlier one as `from`",
                from.number, to.number
            )));
        }
        let proof = StoredTree::new(store.as_ref())
            .consistency(from.tree_size, to.tree_size)
            .map_err(proof_error)?;
        Ok(ConsistencyAnswer { from, to, proof })
    })
    .await??;
    Ok(HttpResponse::Ok().json(answer))
}

/// The head numbered `number`, or the API's 404.
fn head_numbered(store: &dyn ReadSide, number: u64) -> Result<SignedHead, ApiError> {
    store
        .tree_head(number)?
        .ok_or(ApiError::NotFound("no signed tree head has this number"))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct ProofQuery {
    /// The tree to prove inclusion in: a signed head's `tree_size`. By default the latest
    /// head's, or the whole log when no head covers the entry yet.
    #[param(minimum = 1)]
    tree_size: Option<u64>,
}

/// An entry's delivery, proven to be in the tree of `tree_size` deliveries.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct ProofAnswer {
    #[schema(value_type = String)]
    pub entry_id: EntryId,
    #[serde(flatten)]
    #[schema(value_type = InclusionProofJson)]
    pub proof: InclusionProof,
    /// The signed head over that tree; null when none was signed at exactly that size (the
    /// root is then the log's own word).
    #[schema(value_type = Option<HeadJson>)]
    pub digest: Option<SignedHead>,
}

/// That a delivery is leaf `leaf_index` of the tree of `tree_size` deliveries with this root
/// (RFC 9162). (The JSON of `trust::proofs::InclusionProof`, described here.)
#[allow(dead_code)]
#[derive(ToSchema)]
#[schema(as = InclusionProof)]
struct InclusionProofJson {
    /// The delivery's position: its seq − 1.
    leaf_index: u64,
    tree_size: u64,
    /// SHA-256(0x00 ‖ delivery hash), hex.
    #[schema(pattern = "^[0-9a-f]{64}$")]
    leaf_hash: String,
    /// RFC 9162 §2.1.3 audit path from the leaf's sibling up, hex.
    audit_path: Vec<String>,
    /// The tree's root, hex.
    #[schema(pattern = "^[0-9a-f]{64}$")]
    root: String,
    delivery: crate::trust::proofs::DeliveryEvidence,
}

/// That an entry's delivery is in the log, as of a signed head.
#[utoipa::path(
    tag = "evidence",
    params(("id" = String, Path, description = "The entry's id (a ULID)."), ProofQuery),
    responses(
        (status = 200, description = "The inclusion proof, what recomputes the delivery's hash, and the signed head it is checked against.", body = ProofAnswer),
        (status = 400, description = "A `tree_size` that does not hold the entry's delivery, or larger than the log.", body = Problem, content_type = "application/problem+json"),
        Unauthenticated,
        (status = 404, description = "No entry has this id.", body = Problem, content_type = "application/problem+json"),
        Internal,
        Unavailable,
    ),
)]
#[get("/entries/{id}/proof")]
async fn entry_proof(
    _caller: Caller,
    state: web::Data<AppState>,
    id: web::Path<String>,
    query: web::Query<ProofQuery>,
) -> Result<HttpResponse, ApiError> {
    let id: EntryId = id
        .parse()
        .map_err(|_| ApiError::NotFound("no such entry"))?;
    let asked = query.tree_size;
    let store = state.storage.read.clone();
    let answer = web::block(move || -> Result<ProofAnswer, ApiError> {
        let entry = store
            .entry(id)?
            .ok_or(ApiError::NotFound("no such entry"))?;
        let seq = entry.source.delivery_seq;
        let (tree_size, digest) = tree_for(store.as_ref(), seq, asked)?;
        let proof = StoredTree::new(store.as_ref())
            .inclusion(seq, tree_size)
            .map_err(proof_error)?;
        Ok(ProofAnswer {
            entry_id: id,
            proof,
            digest,
        })
    })
    .await??;
    Ok(HttpResponse::Ok().json(answer))
}

/// The tree a proof of delivery `seq` is made in, and its signed head if there is one: the
/// size asked for, or the latest head when it covers the delivery, or the whole log.
pub fn tree_for(
    store: &dyn ReadSide,
    seq: u64,
    asked: Option<u64>,
) -> Result<(u64, Option<SignedHead>), StoreError> {
    if let Some(tree_size) = asked {
        return Ok((tree_size, store.tree_head_of_size(tree_size)?));
    }
    if let Some(latest) = store.tree_heads(None, 1)?.into_iter().next()
        && latest.tree_size >= seq
    {
        return Ok((latest.tree_size, Some(latest)));
    }
    let logged = store.chain_head()?.tree.size();
    Ok((logged, store.tree_head_of_size(logged)?))
}

fn proof_error(err: ProofError) -> ApiError {
    match err {
        ProofError::Store(err) => err.into(),
        refused @ (ProofError::NotInTree { .. } | ProofError::BeyondLog { .. }) => {
            ApiError::BadRequest(refused.to_string())
        }
    }
}
