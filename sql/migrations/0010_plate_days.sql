-- Which plates were seen on which UTC day: the rollup behind unique-plate
-- counts for a time window. `plates` answers "ever seen" and `plates_hourly`
-- "first seen in a window", but neither can say how many distinct plates
-- were read between two times. Counting this table costs the number of
-- distinct (day, plate) pairs in the window, not the number of reads.
-- The writer adds a batch's pairs in the same transaction as its reads
-- (INSERT ... ON CONFLICT DO NOTHING); windows are counted in whole UTC days.
CREATE TABLE plate_days (
    day DATE NOT NULL,
    plate_normalized_text VARCHAR(20) NOT NULL,
    PRIMARY KEY (day, plate_normalized_text)
);
