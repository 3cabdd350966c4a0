//! The count deltas of an ingest batch.

use super::*;

fn row(status: Status, at: &str) -> Stored {
    Stored {
        job_id: "j".into(),
        status,
        scheduled_at: at.parse().expect("an instant"),
    }
}

fn deltas_of(
    before: &[(&str, Stored)],
    after: &[(&str, Stored)],
    doomed: &[(&str, &str)],
) -> CountDeltas {
    let map = |rows: &[(&str, Stored)]| {
        rows.iter()
            .map(|(id, r)| (ExecutionId::from(*id), r.clone()))
            .collect::<HashMap<_, _>>()
    };
    let doomed: Vec<Doomed> = doomed
        .iter()
        .map(|(id, at)| Doomed {
            id: ExecutionId::from(*id),
            at: at.parse().expect("an instant"),
            status: Status::Missed,
        })
        .collect();
    deltas(&map(before), &map(after), &doomed)
}

#[test]
fn a_real_run_replacing_a_stored_missed_row_counts_it_once() {
    let t = "2026-12-02T10:00:00Z";
    let mut expected = CountDeltas::default();
    expected.add(t.parse().expect("an instant"), Status::Missed, -1);
    expected.add(t.parse().expect("an instant"), Status::Succeeded, 1);
    // The stored missed row `m` is deleted; the batch also carried `m` (dropped) and the
    // real run `r`.
    let got = deltas_of(
        &[("m", row(Status::Missed, t))],
        &[("r", row(Status::Succeeded, t))],
        &[("m", t)],
    );
    assert_eq!(got, expected);
    // The same when the batch did not carry `m`.
    let got = deltas_of(&[], &[("r", row(Status::Succeeded, t))], &[("m", t)]);
    assert_eq!(got, expected);
}

#[test]
fn updates_move_counts_and_repeats_change_nothing() {
    let t = "2026-12-02T10:00:00Z";
    let got = deltas_of(
        &[
            ("a", row(Status::Running, t)),
            ("b", row(Status::Failed, t)),
        ],
        &[
            ("a", row(Status::Succeeded, t)),
            ("b", row(Status::Failed, t)),
        ],
        &[],
    );
    let mut expected = CountDeltas::default();
    expected.add(t.parse().expect("an instant"), Status::Running, -1);
    expected.add(t.parse().expect("an instant"), Status::Succeeded, 1);
    assert_eq!(got, expected);
}
