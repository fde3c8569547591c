//! A copy pass: the tenant's rows above a watermark, read from a snapshot
//! of the source, written to the target. The copy, catch-up, verify and
//! fence phases are made of these.

use std::collections::HashMap;

use fsa_store::StoreError;
use fsa_store::db::Pool;
use uuid::Uuid;

use crate::endpoint::Endpoint;
use crate::error::MoveError;
use crate::progress::Progress;
use crate::rows::{TABLES, TableRow, each_table};

/// Rows per page where rows are read and written in pages.
pub(crate) const PAGE: i64 = 2_000;
/// A catch-up pass that copies at most this many rows ends the catching up.
pub(crate) const SMALL_DELTA: u64 = 200;
pub(crate) const MAX_PASSES: usize = 8;

/// Takes the tenant's write lock for an instant: returns a snapshot that
/// shows exactly the tenant's rows at or below the returned watermark.
pub(crate) async fn barrier(src: &Pool, tenant: Uuid) -> Result<(Endpoint, i64), StoreError> {
    let mut lock = Endpoint::acquire(src).await?;
    lock.begin_exclusive(tenant).await?;
    let mut snap = Endpoint::acquire(src).await?;
    let taken = snap.begin_snapshot().await;
    let w = lock.counter().await;
    lock.commit().await?;
    taken?;
    Ok((snap, w?))
}

/// What a pass copied.
#[derive(Default)]
pub(crate) struct Copied {
    pub rows: u64,
    pub bytes: u64,
}

impl Copied {
    fn add(&mut self, c: Copied) {
        self.rows += c.rows;
        self.bytes += c.bytes;
    }
}

/// What a copy pass does.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Pass {
    /// Every row of the snapshot (by the ends' bulk path when they share one).
    Bulk,
    /// The rows above a watermark and the tombstones, in one target
    /// transaction whose foreign keys are checked at commit.
    Delta,
    /// A delta that, before it commits, also checks each row it wrote and
    /// each row it deleted against the target: nothing is read twice.
    CheckedDelta,
}

/// Copies the tenant's rows above `above` from the snapshot to the target.
pub(crate) async fn copy_pass(
    src: &mut Endpoint,
    dst: &mut Endpoint,
    tenant: Uuid,
    above: i64,
    pass: Pass,
    progress: &dyn Progress,
) -> Result<Copied, MoveError> {
    let mut out = Copied::default();
    let delta = pass != Pass::Bulk;
    let check = pass == Pass::CheckedDelta;
    if delta {
        dst.begin_deferred().await?;
    }
    let result = async {
        if delta {
            let mut stones = src.tombstones(tenant, above).await?;
            stones.sort_by_key(|(table, _)| {
                std::cmp::Reverse(TABLES.iter().position(|t| t == table))
            });
            for (table, id) in &stones {
                dst.delete_row(table, tenant, *id).await?;
            }
            out.rows += stones.len() as u64;
            if check {
                each_table!(R => check_deleted::<R>(dst, tenant, &stones).await?);
            }
        }
        each_table!(R => out.add(copy_table::<R>(src, dst, tenant, above, check, progress).await?));
        Ok::<_, MoveError>(())
    }
    .await;
    if delta {
        match result {
            Ok(()) => dst.commit().await?,
            Err(e) => {
                let _ = dst.rollback().await;
                return Err(e);
            }
        }
    } else {
        result?;
    }
    Ok(out)
}

async fn copy_table<R: TableRow>(
    src: &mut Endpoint,
    dst: &mut Endpoint,
    tenant: Uuid,
    above: i64,
    check: bool,
    progress: &dyn Progress,
) -> Result<Copied, MoveError> {
    if above == 0
        && let Some((rows, bytes)) = src.bulk_copy::<R>(dst, tenant).await?
    {
        progress.table(R::TABLE, rows);
        return Ok(Copied { rows, bytes });
    }
    let mut out = Copied::default();
    let mut above = above;
    loop {
        let rows: Vec<R> = src.page(tenant, above, PAGE).await?;
        let Some(last) = rows.last() else { break };
        above = last.row_version();
        dst.upsert(&rows).await?;
        if check {
            check_written(dst, tenant, &rows).await?;
        }
        out.rows += rows.len() as u64;
        out.bytes += rows.iter().map(TableRow::size).sum::<u64>();
        progress.table(R::TABLE, out.rows);
        if (rows.len() as i64) < PAGE {
            break;
        }
    }
    Ok(out)
}

/// Checks that the target now holds exactly these source rows: the
/// target's rows of the same ids, fetched in one query, hash the same.
async fn check_written<R: TableRow>(
    dst: &mut Endpoint,
    tenant: Uuid,
    rows: &[R],
) -> Result<(), MoveError> {
    let ids: Vec<Uuid> = rows.iter().map(TableRow::id).collect();
    let theirs: HashMap<Uuid, u64> = dst
        .many::<R>(tenant, &ids)
        .await?
        .iter()
        .map(|r| (r.id(), r.digest()))
        .collect();
    match rows
        .iter()
        .find(|r| theirs.get(&r.id()) != Some(&r.digest()))
    {
        Some(r) => Err(MoveError::Mismatch(format!(
            "{} row {} differs after the last delta",
            R::TABLE,
            r.id()
        ))),
        None => Ok(()),
    }
}

/// Checks that no row of `R`'s table deleted at the source is at the target.
async fn check_deleted<R: TableRow>(
    dst: &mut Endpoint,
    tenant: Uuid,
    stones: &[(String, Uuid)],
) -> Result<(), MoveError> {
    let ids: Vec<Uuid> = stones
        .iter()
        .filter(|(t, _)| t == R::TABLE)
        .map(|(_, id)| *id)
        .collect();
    if ids.is_empty() {
        return Ok(());
    }
    if let Some(r) = dst.many::<R>(tenant, &ids).await?.first() {
        return Err(MoveError::Mismatch(format!(
            "{} row {} was deleted at the source but is at the target",
            R::TABLE,
            r.id()
        )));
    }
    Ok(())
}
