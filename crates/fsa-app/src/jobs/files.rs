//! `files.collect`: orphan objects older than the grace period are
//! deleted, incomplete S3 uploads aborted, rows whose objects are missing
//! logged (`crate::files::gc`). Once in the fleet every
//! `[files] gc_every_seconds`.

use futures::FutureExt;
use futures::future::BoxFuture;

use super::{FILES_COLLECT, Job, JobCx, Outcome};
use crate::App;

pub(super) struct Collect(pub App);

impl Job for Collect {
    fn kind(&self) -> &'static str {
        FILES_COLLECT
    }

    fn run(&self, _cx: JobCx) -> BoxFuture<'static, Result<Outcome, String>> {
        let app = self.0.clone();
        async move {
            let r = app.files_gc(false).await.map_err(|e| e.to_string())?;
            for m in &r.missing {
                tracing::warn!(tenant.id = %m.tenant, file.id = %m.file_id, store = %m.store, "a file's object is missing from its store");
            }
            Ok(Outcome::Done)
        }
        .boxed()
    }
}
