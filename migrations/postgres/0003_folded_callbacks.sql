-- Email callbacks that found their email live in lane 200 and are left out of a timeline
-- unless asked for. The whole-timeline index covers every other lane, so the default view is
-- still one index range; a view with callbacks merges it with lane 200's primary-key range.
DROP INDEX subject_timelines_by_time;
CREATE INDEX subject_timelines_by_time ON subject_timelines (subject, occurred, entry_id)
    WHERE lane <> 200;
