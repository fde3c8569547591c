//! Files of work orders: the stores ([`fsa_store::objects`], shared with
//! the move engine, which carries a tenant's objects when its store
//! changes), streamed uploads ([`upload`]) and the collector ([`gc`]).
//!
//! - [`upload`]: an upload streamed to a store while its SHA-256 is computed.
//! - [`gc`]: objects without rows and rows without objects, across every
//!   store and placement.

pub mod gc;

pub use fsa_store::objects::put as upload;
pub use fsa_store::objects::*;

use fsa_core::{Plan, TenantId};
use uuid::Uuid;

/// A small file given whole, as the demo seed adds them.
#[derive(Debug, Clone)]
pub struct WholeFile {
    pub work_order_id: Uuid,
    pub file_name: String,
    pub content_type: String,
    pub file_type: String,
    pub bytes: bytes::Bytes,
}

impl crate::App {
    /// Stores a file of a work order (the demo seed's way in; uploads
    /// stream through the HTTP server): the object first, then its row
    /// under the plan's `file_bytes`; a refused row deletes the object.
    pub async fn add_file(
        &self,
        tenant: TenantId,
        plan: Plan,
        f: WholeFile,
    ) -> Result<fsa_store::repo::files::FileMeta, crate::AppError> {
        use crate::data::{NewUpload, UploadTarget};
        let store = self.files.for_plan(plan);
        let target = UploadTarget::new(tenant, f.work_order_id);
        let body = futures::stream::iter([Ok::<_, std::convert::Infallible>(f.bytes)]);
        let stored =
            upload::put_stream(store, target.key(), body, self.files.max_file_bytes).await?;
        let up = NewUpload {
            file_type: f.file_type,
            file_name: f.file_name,
            content_type: f.content_type,
            stored,
        };
        let row = async {
            let mut tx = self.router.begin(tenant, fsa_store::Mode::Write).await?;
            let meta = crate::data::insert_file(&mut tx, &self.limits, plan, &target, up).await?;
            tx.commit().await?;
            Ok::<_, crate::AppError>(meta)
        }
        .await;
        if row.is_err() {
            let _ = store.delete(target.key()).await;
        }
        row
    }
}
