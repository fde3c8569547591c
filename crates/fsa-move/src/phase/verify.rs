//! `verifying` → `fenced`: per table, the row count and an
//! order-independent checksum of canonical rows, the source through the
//! last pass's snapshot, the target directly. A mismatch fails the move
//! before anything switched. What changed while the checksums ran is then
//! copied and checked row by row in snapshots of its own, so the fence has
//! little left. Last, every file object the target's rows name is read back
//! from the target store and checked against its row's SHA-256 (when the
//! move changes the tenant's store).

use std::collections::BTreeMap;
use std::time::Instant;

use fsa_store::StoreError;
use uuid::Uuid;

use super::pass::{MAX_PASSES, PAGE, Pass, SMALL_DELTA, barrier, copy_pass};
use super::{Carry, ObjectPass, Run};
use crate::endpoint::Endpoint;
use crate::error::MoveError;
use crate::progress::NoProgress;
use crate::report::TableReport;
use crate::rows::{TableRow, each_table};
use crate::state::MoveState;

#[tracing::instrument(name = "verify", skip_all)]
pub(crate) async fn run(run: &mut Run<'_>) -> Result<MoveState, MoveError> {
    let t = run.t();
    let src_pool = run.src_pool().await?;
    let Some(Carry {
        dst: mut d,
        snap: Some(mut snap),
    }) = run.carry.take()
    else {
        return Err(MoveError::Inconsistent("verifying without a copy"));
    };
    let started = Instant::now();
    let verified = verify(&mut snap, &mut d, t).await;
    snap.commit().await?;
    run.m.report.tables = verified?;
    run.m.report.verify_ms = started.elapsed().as_millis() as u64;
    if let Some((table, r)) = run.m.report.tables.iter().find(|(_, r)| !r.matches()) {
        return Err(MoveError::Mismatch(format!(
            "{table}: source {} rows ({}), target {} rows ({})",
            r.source_rows, r.source_checksum, r.rows, r.checksum
        )));
    }
    let mut w = run.m.watermark.unwrap_or(0);
    for _ in 0..MAX_PASSES {
        let (mut snap, wi) = barrier(&src_pool, t).await?;
        let n = copy_pass(&mut snap, &mut d, t, w, Pass::CheckedDelta, &NoProgress).await;
        snap.commit().await?;
        let n = n?.rows;
        run.m.report.catch_up_passes += 1;
        run.m.report.catch_up_rows += n;
        w = wi;
        run.m.watermark = Some(w);
        if n <= SMALL_DELTA {
            break;
        }
    }
    // Every object the target's rows name, read back at the target store.
    run.sync_objects(&mut d, ObjectPass::Verify).await?;
    drop(d);
    run.verified = true;
    run.advance(MoveState::Fenced).await
}

/// Row counts and checksums of every tenant table at both ends.
async fn verify(
    src: &mut Endpoint,
    dst: &mut Endpoint,
    tenant: Uuid,
) -> Result<BTreeMap<String, TableReport>, StoreError> {
    let mut out = BTreeMap::new();
    each_table!(R => {
        out.insert(R::TABLE.to_owned(), verify_table::<R>(src, dst, tenant).await?);
    });
    Ok(out)
}

/// Row count and checksum of one table at both ends: computed by the
/// databases themselves when both can, else over the canonical rows here.
async fn verify_table<R: TableRow>(
    src: &mut Endpoint,
    dst: &mut Endpoint,
    tenant: Uuid,
) -> Result<TableReport, StoreError> {
    if let Some([(sn, ss), (dn, ds)]) = src.sql_digests::<R>(dst, tenant).await? {
        return Ok(TableReport {
            rows: dn,
            checksum: ds,
            source_rows: sn,
            source_checksum: ss,
        });
    }
    let (sn, ss) = digest_table::<R>(src, tenant).await?;
    let (dn, ds) = digest_table::<R>(dst, tenant).await?;
    Ok(TableReport {
        rows: dn,
        checksum: format!("{ds:016x}"),
        source_rows: sn,
        source_checksum: format!("{ss:016x}"),
    })
}

/// Count and order-independent checksum of the tenant's rows of one table.
async fn digest_table<R: TableRow>(
    c: &mut Endpoint,
    tenant: Uuid,
) -> Result<(u64, u64), StoreError> {
    let (mut n, mut sum) = (0u64, 0u64);
    let mut above = 0;
    loop {
        let rows: Vec<R> = c.page(tenant, above, PAGE).await?;
        let Some(last) = rows.last() else { break };
        above = last.row_version();
        for r in &rows {
            n += 1;
            sum = sum.wrapping_add(r.digest());
        }
        if (rows.len() as i64) < PAGE {
            break;
        }
    }
    Ok((n, sum))
}
