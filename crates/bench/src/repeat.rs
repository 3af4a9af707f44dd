//! `--repeat N`: every cell runs N times, the targets taking turns within each round, and the
//! report keeps each cell's median run. On a shared machine one run of a cell can land in a
//! slow spell that the next target's run misses; the median of runs that took turns is a fairer
//! ratio, and the range beside it shows how much the machine moved.

use super::CellResult;

/// Groups the runs of each cell (same target, history and connection count; in the order the
/// cells first ran) into one result: the median run by throughput — the upper middle one for
/// an even count — with every run's throughput and every run's errors.
pub fn median_runs(results: Vec<CellResult>) -> Vec<CellResult> {
    let mut cells: Vec<Vec<CellResult>> = Vec::new();
    for result in results {
        match cells.iter_mut().find(|runs| same_cell(&runs[0], &result)) {
            Some(runs) => runs.push(result),
            None => cells.push(vec![result]),
        }
    }
    cells.into_iter().filter_map(median_of).collect()
}

fn same_cell(a: &CellResult, b: &CellResult) -> bool {
    (a.target, a.history, a.connections) == (b.target, b.history, b.connections)
}

fn median_of(mut runs: Vec<CellResult>) -> Option<CellResult> {
    if runs.len() == 1 {
        return runs.pop();
    }
    let rates: Vec<f64> = runs.iter().map(|run| run.acked_per_sec).collect();
    let errors: u64 = runs.iter().map(|run| run.errors).sum();
    let mut error_kinds = std::collections::BTreeMap::new();
    for run in &runs {
        for (kind, count) in &run.error_kinds {
            *error_kinds.entry(kind.clone()).or_insert(0) += count;
        }
    }
    runs.sort_by(|a, b| a.acked_per_sec.total_cmp(&b.acked_per_sec));
    let middle = runs.len() / 2;
    let mut median = runs.into_iter().nth(middle)?;
    median.runs_acked_per_sec = rates;
    median.errors = errors;
    median.error_kinds = error_kinds;
    Some(median)
}

#[cfg(test)]
mod tests {
    use super::super::Target;
    use super::*;

    fn run(target: Target, connections: u32, acked_per_sec: f64, errors: u64) -> CellResult {
        let mut result = super::super::tests::cell(target, acked_per_sec, 1.0);
        result.connections = connections;
        result.errors = errors;
        if errors > 0 {
            result.error_kinds.insert("HTTP 503".to_owned(), errors);
        }
        result
    }

    #[test]
    fn each_cell_keeps_its_median_run_with_every_rate_and_every_error() {
        let results = vec![
            run(Target::Gateway, 64, 300.0, 0),
            run(Target::Plain, 64, 900.0, 0),
            run(Target::Gateway, 64, 100.0, 2),
            run(Target::Plain, 64, 800.0, 0),
            run(Target::Gateway, 64, 200.0, 1),
            run(Target::Plain, 64, 1000.0, 0),
            run(Target::Gateway, 16, 50.0, 0),
        ];
        let cells = median_runs(results);
        let summary: Vec<(Target, u32, f64, u64)> = cells
            .iter()
            .map(|c| (c.target, c.connections, c.acked_per_sec, c.errors))
            .collect();
        assert_eq!(
            summary,
            [
                (Target::Gateway, 64, 200.0, 3),
                (Target::Plain, 64, 900.0, 0),
                (Target::Gateway, 16, 50.0, 0),
            ]
        );
        assert_eq!(cells[0].runs_acked_per_sec, [300.0, 100.0, 200.0]);
        assert_eq!(cells[0].error_kinds["HTTP 503"], 3);
        // A cell that ran once is reported as it ran, without a list of runs.
        assert!(cells[2].runs_acked_per_sec.is_empty());
    }

    #[test]
    fn an_even_count_keeps_the_upper_middle_run() {
        let cells = median_runs(vec![
            run(Target::Gateway, 64, 10.0, 0),
            run(Target::Gateway, 64, 40.0, 0),
            run(Target::Gateway, 64, 30.0, 0),
            run(Target::Gateway, 64, 20.0, 0),
        ]);
        assert_eq!(cells.len(), 1);
        assert_eq!(cells[0].acked_per_sec, 30.0);
    }
}
