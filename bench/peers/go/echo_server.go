// echo_server.go - the Go peer for weft's TCP echo benchmark (see bench.md):
// a TCP echo server on 127.0.0.1:PORT with one goroutine per connection,
// TCP_NODELAY (Go's default for TCP, set explicitly here) and a 4 KiB buffer
// per connection. Standard library only. Runs until SIGINT or SIGTERM.
//
//	build:  make -C bench/peers go        (-> build/peers/go_echo_server;
//	        needs Debian's golang-go, Go 1.19)
//	run:    taskset -c 0 build/peers/go_echo_server 7000
//	bench:  bench/peers/run_tcp.sh echo build/peers/go_echo_server {PORT}
//
// Pinned with taskset to one core, the Go runtime sees one CPU and so runs
// with GOMAXPROCS=1 ("Go, 1 proc"); set GOMAXPROCS to override.
package main

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/signal"
	"strconv"
	"syscall"
)

func serve(c *net.TCPConn) {
	defer c.Close()
	_ = c.SetNoDelay(true)
	buf := make([]byte, 4096)
	for {
		n, err := c.Read(buf)
		if n > 0 {
			if _, werr := c.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintf(os.Stderr, "usage: %s PORT\n", os.Args[0])
		os.Exit(2)
	}
	port, err := strconv.Atoi(os.Args[1])
	if err != nil || port <= 0 || port > 65535 {
		fmt.Fprintf(os.Stderr, "bad port: %s\n", os.Args[1])
		os.Exit(2)
	}
	ln, err := net.ListenTCP("tcp4", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		<-sigs
		ln.Close()
	}()
	for {
		c, err := ln.AcceptTCP()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return // listener closed by SIGINT/SIGTERM
			}
			fmt.Fprintln(os.Stderr, "accept:", err)
			continue
		}
		go serve(c)
	}
}
