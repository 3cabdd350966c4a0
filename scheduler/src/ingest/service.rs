//! `ReportService.Report`: checks each report, hands the good ones to the writer, and acks
//! exactly those once they are committed.

use std::collections::HashSet;

use crony_common::traces::Tracer;
use crony_proto::v1::report_service_server::ReportService;
use crony_proto::v1::{ReportAck, ReportBatch};
use tonic::{Request, Response, Status};

use super::record_from_proto;
use super::writer::{WriteError, Writer};

pub struct ReportServiceImpl {
    writer: Writer,
    tracer: Tracer,
}

impl ReportServiceImpl {
    pub fn new(writer: Writer) -> Self {
        Self {
            writer,
            tracer: Tracer::off(),
        }
    }

    /// Adds a `crony.record` span to the trace of each settled execution stored.
    pub fn with_tracer(mut self, tracer: Tracer) -> Self {
        self.tracer = tracer;
        self
    }
}

#[tonic::async_trait]
impl ReportService for ReportServiceImpl {
    async fn report(&self, request: Request<ReportBatch>) -> Result<Response<ReportAck>, Status> {
        let batch = request.into_inner();
        let mut records = Vec::with_capacity(batch.reports.len());
        for report in batch.reports {
            let id = report.execution_id.clone();
            match record_from_proto(report) {
                Ok(record) => records.push(record),
                // Not acked, so it stays in the agent's spool: a report this scheduler cannot
                // read (e.g. from a newer agent) is kept rather than lost.
                Err(why) => tracing::warn!(
                    agent = %batch.agent_id,
                    execution = %id,
                    error = %why,
                    "refusing an execution report"
                ),
            }
        }
        if records.is_empty() {
            return Ok(Response::new(ReportAck::default()));
        }
        let mut seen = HashSet::new();
        // The ack is proto: plain strings again.
        let ids: Vec<String> = records
            .iter()
            .filter(|r| seen.insert(r.id.clone()))
            .map(|r| r.id.to_string())
            .collect();
        // Ended when dropped, after the write: the span is how long storing took.
        let _spans = crate::traced::records(&self.tracer, &records);
        match self.writer.write(records).await {
            Ok(()) => Ok(Response::new(ReportAck {
                acked_execution_ids: ids,
            })),
            // Whatever went wrong, nothing was committed: the agent keeps the reports and
            // sends them again, so UNAVAILABLE (retry later) is the honest answer.
            Err(WriteError::Stopped) => Err(Status::unavailable("the scheduler is shutting down")),
            Err(WriteError::Store(e)) => Err(Status::unavailable(format!(
                "execution reports not stored: {e}"
            ))),
        }
    }
}
