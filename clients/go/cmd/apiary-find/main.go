// apiary-find asks a queen which workers serve a model (FindWorkers), then watches the cluster
// (Watch): it prints one JSON object per line, the FindWorkers answer first, then every event of
// the Watch's snapshot, its end, and live events.
//
//	apiary-find -queen http://127.0.0.1:7833 -model demo/llm
//	apiary-find -queen https://127.0.0.1:7833 -ca ca.crt -cert client.crt -key client.key -model demo/llm
//
// It stops after the snapshot, or with -until-added ID once a live ADDED event of that worker
// arrives, or after -timeout.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	apiaryv1 "apiary/clients/go/apiary/v1"
	"apiary/clients/go/client"
	"google.golang.org/protobuf/types/known/durationpb"
)

type workerLine struct {
	HiveID        string  `json:"hive_id"`
	WorkerID      string  `json:"worker_id"`
	Model         string  `json:"model"`
	State         string  `json:"state"`
	FreeVramBytes *uint64 `json:"free_vram_bytes,omitempty"`
	Waiting       *uint32 `json:"requests_waiting,omitempty"`
	Running       *uint32 `json:"requests_running,omitempty"`
}

type findLine struct {
	Find struct {
		Revision     uint64       `json:"revision"`
		TotalMatches uint32       `json:"total_matches"`
		Workers      []workerLine `json:"workers"`
	} `json:"find"`
}

type eventLine struct {
	Type     string      `json:"type"`
	Kind     string      `json:"kind"`
	Revision uint64      `json:"revision"`
	Snapshot bool        `json:"snapshot"`
	HiveID   string      `json:"hive_id"`
	Health   string      `json:"health,omitempty"`
	Worker   *workerLine `json:"worker,omitempty"`
}

func main() {
	var opts client.Options
	var tokenFile, model, untilAdded string
	var timeout time.Duration
	flag.StringVar(&opts.Address, "queen", "http://127.0.0.1:7833", "queen address (http://, https:// or host:port)")
	flag.StringVar(&opts.CAFile, "ca", "", "CA bundle of the cluster (TLS)")
	flag.StringVar(&opts.CertFile, "cert", "", "client certificate (mutual TLS)")
	flag.StringVar(&opts.KeyFile, "key", "", "key of the client certificate")
	flag.StringVar(&opts.ServerID, "server-id", client.QueenIDPrefix, "SPIFFE ID (or prefix ending in /) the queen must present")
	flag.StringVar(&tokenFile, "token-file", "", "file holding a bearer token")
	flag.StringVar(&model, "model", "", "only workers of this model")
	flag.StringVar(&untilAdded, "until-added", "", "keep watching until a live ADDED event of this worker id")
	flag.DurationVar(&timeout, "timeout", 30*time.Second, "give up after this long")
	flag.Parse()
	if tokenFile != "" {
		text, err := os.ReadFile(tokenFile)
		if err != nil {
			fail(err)
		}
		opts.Token = strings.TrimSpace(string(text))
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := run(ctx, opts, model, untilAdded); err != nil {
		fail(err)
	}
}

func run(ctx context.Context, opts client.Options, model, untilAdded string) error {
	conn, err := client.Dial(opts)
	if err != nil {
		return err
	}
	defer conn.Close()
	queen := apiaryv1.NewQueenServiceClient(conn)
	out := json.NewEncoder(os.Stdout)

	found, err := queen.FindWorkers(ctx, &apiaryv1.FindWorkersRequest{Model: model, Order: apiaryv1.WorkerOrder_WORKER_ORDER_MOST_FREE_VRAM})
	if err != nil {
		return fmt.Errorf("FindWorkers: %w", err)
	}
	var f findLine
	f.Find.Revision, f.Find.TotalMatches, f.Find.Workers = found.GetRevision(), found.GetTotalMatches(), []workerLine{}
	for _, m := range found.GetMatches() {
		w := describe(m.GetHiveId(), m.GetWorker())
		w.FreeVramBytes = m.FreeVramBytes
		f.Find.Workers = append(f.Find.Workers, w)
	}
	if err := out.Encode(f); err != nil {
		return err
	}

	stream, err := queen.Watch(ctx, &apiaryv1.WatchRequest{Model: model, BookmarkInterval: durationpb.New(time.Second)})
	if err != nil {
		return fmt.Errorf("Watch: %w", err)
	}
	for {
		res, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return errors.New("Watch: the queen ended the stream")
		}
		if err != nil {
			return fmt.Errorf("Watch: %w", err)
		}
		switch kind := res.GetKind().(type) {
		case *apiaryv1.WatchResponse_SnapshotEnd:
			if err := out.Encode(map[string]any{"snapshot_end": true, "revision": res.GetRevision(), "epoch": res.GetEpoch()}); err != nil {
				return err
			}
			if untilAdded == "" {
				return nil
			}
		case *apiaryv1.WatchResponse_Hive:
			status := kind.Hive.GetHive()
			line := eventLine{Type: kind.Hive.GetType().String(), Kind: "hive", Revision: res.GetRevision(), Snapshot: res.GetSnapshot(),
				HiveID: status.GetInfo().GetHiveId(), Health: status.GetHealth().String()}
			if err := out.Encode(line); err != nil {
				return err
			}
		case *apiaryv1.WatchResponse_Worker:
			w := describe(kind.Worker.GetHiveId(), kind.Worker.GetWorker())
			line := eventLine{Type: kind.Worker.GetType().String(), Kind: "worker", Revision: res.GetRevision(), Snapshot: res.GetSnapshot(), HiveID: w.HiveID, Worker: &w}
			if err := out.Encode(line); err != nil {
				return err
			}
			if untilAdded != "" && !res.GetSnapshot() && kind.Worker.GetType() == apiaryv1.EventType_EVENT_TYPE_ADDED && w.WorkerID == untilAdded {
				return nil
			}
		}
	}
}

func describe(hiveID string, w *apiaryv1.WorkerTelemetry) workerLine {
	line := workerLine{HiveID: hiveID, WorkerID: w.GetWorkerId(), Model: w.GetModel(), State: w.GetState().String()}
	if load := w.GetEngineLoad(); load != nil {
		line.Waiting, line.Running = load.RequestsWaiting, load.RequestsRunning
	}
	return line
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "apiary-find:", err)
	os.Exit(1)
}
